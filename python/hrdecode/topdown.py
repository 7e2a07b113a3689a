"""Top-down decoding of person-crop heatmaps: HRNet's argmax + quarter offset and DarkPose's DARK.

>>> kp, scores = hrdecode.decode_topdown(heatmaps, centers, scales)   # (N,K,h,w), (N,2), (N,2)
>>> kp.shape, scores.shape                                            # (N,K,2) image coords, (N,K)

The formulas are those of the HRNet reference (deep-high-resolution-net.pytorch ``get_max_preds``,
``get_final_preds``, ``transform_preds``) and of DarkPose (``gaussian_blur``, ``taylor``), evaluated natively
(CPU, or the CUDA kernels / their host emulation) from one rule header, ``csrc/dark/dark_rule.h``.
The ``_reference_*`` functions below are the NumPy twin of that header: the same operations in the same
precision and order, used as the oracle in tests/test_topdown.py and as the baseline of bench/topdown.py.

Conventions (as the references):
  * ``centers`` (N, 2) and ``scales`` (N, 2) or (N,) describe the crop in the image, scale in units of
    200 px; like HRNet's ``get_affine_transform``, only ``scales[:, 0]`` (the width) is used: the crop's
    aspect ratio is the heatmap's.
  * a heatmap pixel index maps to the image through HRNet's affine: the crop centre is the heatmap point
    (w/2, h/2) and one heatmap pixel is ``scale * 200 / w`` image pixels.
  * ``scores`` are the maxima of the (unblurred) maps; a joint whose maximum is not > 0 sits at heatmap
    (0, 0), as in ``get_max_preds``.
  * "dark": Gaussian blur (``blur_kernel`` x ``blur_kernel``, sigma 0 as cv2.GaussianBlur: sigma =
    0.3((k-1)/2-1)+0.8; DarkPose uses 11 for heatmap sigma 2 and 3 for sigma 1) of the zero-padded map,
    rescaled to the original maximum, floored at 1e-10, log; then one Newton step at the integer peak when
    it lies at least 2 pixels inside the map (1 < x < w-2, 1 < y < h-2) and the Hessian's float32
    determinant is non-zero.

Differences from the references, all outside finite, well-formed input: NaN and +-inf pixels are never
the maximum and read as 0 by the quarter step and the blur (the references propagate NaN into the
coordinates); a map with no finite pixel scores 0; a Taylor step whose offset is not finite (or beyond
2**24 px, further than any map) is skipped.
So keypoints are always finite.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple

import numpy as np

from . import _C

_MAX_OFFSET = 16777216.0  # a Taylor step beyond any map is skipped (dark_rule.h kDarkMaxOffset)
_MAX_CENTER, _MAX_SCALE = 1e30, 1e20  # keeps every image coordinate within float32

METHODS = {"argmax": 0, "quarter": 1, "dark": 2}
_BACKENDS = {"cpu": 0, "emu": 1, "cuda": 2}


def _type_name(v: Any) -> str:
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _real_array(name: str, a: Any) -> np.ndarray:
    if a is None:
        raise TypeError(f"{name}: expected a numeric array, got None")
    if isinstance(a, (str, bytes, dict)):
        raise TypeError(f"{name}: expected a numeric array, got {_type_name(a)}")
    try:
        arr = np.asarray(a)
    except Exception as e:  # noqa: BLE001 - anything np.asarray refuses is a type problem for the caller
        raise TypeError(f"{name}: expected a numeric array, got {_type_name(a)} ({e})") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real numbers (float or int dtype), got dtype {arr.dtype}")
    return arr


def _src_width(s0: np.ndarray) -> np.ndarray:
    """scale[:, 0] * 200 in the precision HRNet's get_affine_transform computes it (float32 scales stay
    float32, as in its dataset), returned as float64."""
    if s0.dtype in (np.float32, np.float16):
        return (s0.astype(np.float32) * np.float32(200.0)).astype(np.float64)
    return s0.astype(np.float64) * 200.0


def _check_inputs(heatmaps: Any, centers: Any, scales: Any, method: Any, blur_kernel: Any
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(heatmaps float32 C-contiguous, centers (N,2) float64, src_w (N,) float64, method code, kernel),
    or a TypeError/ValueError naming the argument."""
    if not isinstance(method, str):
        raise TypeError(f"method: expected a str, got {_type_name(method)}")
    if method not in METHODS:
        raise ValueError(f"method: expected 'dark', 'quarter' or 'argmax', got {method!r}")
    if isinstance(blur_kernel, bool) or not isinstance(blur_kernel, (int, np.integer)):
        raise TypeError(f"blur_kernel: expected an int, got {blur_kernel!r} ({_type_name(blur_kernel)})")
    blur_kernel = int(blur_kernel)
    if blur_kernel < 1 or blur_kernel % 2 == 0:
        raise ValueError(f"blur_kernel: expected a positive odd int (11 for heatmap sigma 2, 3 for sigma 1), "
                         f"got {blur_kernel}")
    h = _real_array("heatmaps", heatmaps)
    if h.ndim != 4:
        raise ValueError(f"heatmaps: expected shape (N, K, h, w), got {tuple(h.shape)}")
    N, K, H, W = (int(n) for n in h.shape)
    if H < 1 or W < 1:
        raise ValueError(f"heatmaps: expected maps of at least 1x1 pixels, got {tuple(h.shape)}")
    if H * W >= 1 << 24:
        raise ValueError(f"heatmaps: expected fewer than 2**24 pixels per map, got {H}x{W}")
    c = _real_array("centers", centers)
    if c.shape != (N, 2):
        raise ValueError(f"centers: expected shape (N, 2) = ({N}, 2) for heatmaps {tuple(h.shape)}, "
                         f"got {tuple(c.shape)}")
    c64 = np.ascontiguousarray(c, dtype=np.float64)
    if not np.all(np.abs(c64) <= _MAX_CENTER):
        raise ValueError(f"centers: expected finite values of magnitude <= {_MAX_CENTER:g}")
    s = _real_array("scales", scales)
    if s.shape not in ((N, 2), (N,)):
        raise ValueError(f"scales: expected shape (N, 2) or (N,) with N = {N} for heatmaps {tuple(h.shape)}, "
                         f"got {tuple(s.shape)}")
    s64 = s.astype(np.float64)
    if not np.all((s64 > 0) & (s64 <= _MAX_SCALE)):
        raise ValueError(f"scales: expected positive finite values <= {_MAX_SCALE:g} (crop size in units of "
                         f"200 px)")
    src_w = np.ascontiguousarray(_src_width(s if s.ndim == 1 else s[:, 0]))
    h32 = np.ascontiguousarray(h, dtype=np.float32)
    return h32, c64, src_w, METHODS[method], blur_kernel


def decode_topdown(heatmaps: Any, centers: Any, scales: Any, method: str = "dark", blur_kernel: int = 11, *,
                   backend: str = "cpu", threads: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Decode top-down (person-crop) heatmaps to image coordinates.

    Args:
        heatmaps: (N, K, h, w) maps of N person crops, any real dtype and strides (read, never modified;
            converted to float32 once when needed).
        centers: (N, 2) crop centres in the image (x, y), as HRNet's ``center``.
        scales: (N, 2) or (N,) crop sizes in units of 200 px, as HRNet's ``scale`` (only the width is
            used, as HRNet does).
        method: "dark" (DarkPose: blur, log, Taylor step), "quarter" (HRNet: quarter-pixel shift towards the
            greater neighbour) or "argmax" (integer peak).
        blur_kernel: odd Gaussian kernel size of "dark" (11 for heatmap sigma 2, 3 for sigma 1).
        backend: "cpu", "emu" (the CUDA kernels run on the CPU; for testing) or "cuda".
        threads: CPU threads (default: all; HRDECODE_NUM_THREADS overrides).

    Returns:
        (keypoints (N, K, 2) float32 image (x, y), scores (N, K) float32 maxima).
    """
    if not isinstance(backend, str):
        raise TypeError(f"backend: expected a str, got {_type_name(backend)}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend: expected 'cpu', 'emu' or 'cuda', got {backend!r}")
    if backend == "cuda":
        from .decoder import cuda_unavailable_reason

        why = cuda_unavailable_reason()
        if why is not None:
            raise RuntimeError(f"backend='cuda' is not usable: {why}. Use backend='cpu'.")
    if threads is None:
        threads = _C.default_num_threads()
    elif isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads: expected an int or None, got {threads!r} ({_type_name(threads)})")
    elif threads < 1:
        raise ValueError(f"threads: expected >= 1, got {threads}")
    h, c, w, m, k = _check_inputs(heatmaps, centers, scales, method, blur_kernel)
    kp, sc = _C.decode_topdown(h, c, w, m, k, int(threads), _BACKENDS[backend])
    return kp, sc


# ---- the NumPy twin ------------------------------------------------------------------------------------

def _reference_gaussian_kernel(k: int) -> np.ndarray:
    """cv2.getGaussianKernel(k, 0) as dark_rule.h computes it: OpenCV's fixed tables up to 9 taps, else
    normalised exp samples with sigma = 0.3((k-1)/2-1)+0.8 (scalar libm exp, sequential sum)."""
    tables = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
              7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
              9: [0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375, 0.19921875, 0.1171875, 0.05078125,
                  0.015625]}
    if k in tables:
        return np.array(tables[k], dtype=np.float64)
    sigma = ((k - 1) * 0.5 - 1) * 0.3 + 0.8
    scale = -0.5 / (sigma * sigma)
    t = [math.exp(scale * (i - (k - 1) * 0.5) * (i - (k - 1) * 0.5)) for i in range(k)]
    total = 0.0
    for v in t:
        total += v
    inv = 1.0 / total
    return np.array([v * inv for v in t], dtype=np.float64)


def _finite_or_zero(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.float32(0.0)).astype(np.float32)


def _reference_get_max_preds(h: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """HRNet get_max_preds over (M, H, W) float32 maps, non-finite pixels excluded: (coords (M,2) float32,
    maxvals (M,) float32)."""
    M, H, W = h.shape
    flat = h.reshape(M, H * W)
    fin = np.isfinite(flat)
    idx = np.argmax(np.where(fin, flat, -np.inf), axis=1)
    has = fin.any(axis=1)
    maxv = np.where(has, flat[np.arange(M), idx], np.float32(0.0)).astype(np.float32)
    f = idx.astype(np.float32)
    x = np.fmod(f, np.float32(W))
    y = np.floor(f / np.float32(W))
    keep = maxv > 0
    coords = np.stack([np.where(keep, x, np.float32(0)), np.where(keep, y, np.float32(0))], axis=1)
    return coords.astype(np.float32), maxv


def _reference_quarter(h: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """HRNet's quarter-pixel shift of get_final_preds (np.sign: no shift on a tie)."""
    M, H, W = h.shape
    out = coords.copy()
    px = np.floor(coords[:, 0] + np.float32(0.5)).astype(np.int64)
    py = np.floor(coords[:, 1] + np.float32(0.5)).astype(np.int64)
    ok = (1 < px) & (px < W - 1) & (1 < py) & (py < H - 1)
    m = np.nonzero(ok)[0]
    if m.size:
        hz = h[m]
        x, y = px[m], py[m]
        ddx = _finite_or_zero(hz[np.arange(m.size), y, x + 1]) - _finite_or_zero(hz[np.arange(m.size), y, x - 1])
        ddy = _finite_or_zero(hz[np.arange(m.size), y + 1, x]) - _finite_or_zero(hz[np.arange(m.size), y - 1, x])
        out[m, 0] = coords[m, 0] + (np.sign(ddx) * np.float32(0.25)).astype(np.float32)
        out[m, 1] = coords[m, 1] + (np.sign(ddy) * np.float32(0.25)).astype(np.float32)
    return out


def _reference_blur(h: np.ndarray, k: int) -> np.ndarray:
    """DarkPose's blur of (M, H, W) maps: the zero-padded map blurred in float64 (rows, then columns, taps
    in ascending order), rounded to float32. (cv2.GaussianBlur of the padded map, cropped, equals this up to
    float64 rounding: OpenCV adds the taps in another order.)"""
    M, H, W = h.shape
    r = (k - 1) // 2
    kern = _reference_gaussian_kernel(k)
    P = np.zeros((M, H + 2 * r, W + 2 * r), dtype=np.float64)
    P[:, r:r + H, r:r + W] = _finite_or_zero(h)
    R = kern[0] * P[:, :, 0:W]
    for j in range(1, k):
        R = R + kern[j] * P[:, :, j:j + W]
    C = kern[0] * R[:, 0:H]
    for i in range(1, k):
        C = C + kern[i] * R[:, i:i + H]
    return C.astype(np.float32)


def _reference_dark_derivatives(lg: Callable[[int, int], Any]) -> Tuple[Any, Any, Any, Any, Any]:
    """DarkPose's float32 derivatives (dx, dy, dxx, dxy, dyy) of a log map at the patch centre, as
    dark_rule.h's dark_derivatives: lg(dy, dx) is the log value (scalar or array) at that offset."""
    c = lg(0, 0)
    half, quarter, two = np.float32(0.5), np.float32(0.25), np.float32(2)
    with np.errstate(all="ignore"):
        dx = half * (lg(0, 1) - lg(0, -1))
        dy = half * (lg(1, 0) - lg(-1, 0))
        dxx = quarter * ((lg(0, 2) - two * c) + lg(0, -2))
        dxy = quarter * (((lg(1, 1) - lg(-1, 1)) - lg(1, -1)) + lg(-1, -1))
        dyy = quarter * ((lg(2, 0) - two * c) + lg(-2, 0))
    return dx, dy, dxx, dxy, dyy


def _reference_dark(h: np.ndarray, coords: np.ndarray, maxv: np.ndarray, k: int) -> np.ndarray:
    """DarkPose: blur, rescale to the original maximum, floor 1e-10, log, Taylor step at the integer peak."""
    M, H, W = h.shape
    out = coords.copy()
    px = coords[:, 0].astype(np.int64)
    py = coords[:, 1].astype(np.int64)
    ok = (1 < px) & (px < W - 2) & (1 < py) & (py < H - 2)
    m = np.nonzero(ok)[0]
    if m.size == 0:
        return out
    b = _reference_blur(h[m], k)
    bmax = b.reshape(m.size, -1).max(axis=1)
    bmax = np.where(bmax == 0, np.float32(0.0), bmax)  # +0 for either zero (dark_rescale_factor)
    with np.errstate(all="ignore"):
        factor = (maxv[m] / bmax).astype(np.float32)
    x, y = px[m], py[m]
    ar = np.arange(m.size)

    def lg(dy: int, dx: int) -> np.ndarray:
        with np.errstate(all="ignore"):
            v = (b[ar, y + dy, x + dx] * factor).astype(np.float32)
            v = np.where(v < np.float32(1e-10), np.float32(1e-10), v)
            return np.log(v.astype(np.float64)).astype(np.float32)

    dx, dy, dxx, dxy, dyy = _reference_dark_derivatives(lg)
    with np.errstate(all="ignore"):
        det = dxx * dyy - dxy * dxy
        step = (det != 0) & np.isfinite(det)
        d64 = [a.astype(np.float64) for a in (dx, dy, dxx, dxy, dyy)]
        gx, gy, gxx, gxy, gyy = d64
        dd = np.where(step, gxx * gyy - gxy * gxy, 1.0)
        ox64 = -(gyy * gx - gxy * gy) / dd
        oy64 = -(gxx * gy - gxy * gx) / dd
        step &= (np.abs(ox64) <= _MAX_OFFSET) & (np.abs(oy64) <= _MAX_OFFSET)
        ox = np.where(step, ox64, 0.0).astype(np.float32)
        oy = np.where(step, oy64, 0.0).astype(np.float32)
    sel = m[step]
    out[sel, 0] = coords[sel, 0] + ox[step]
    out[sel, 1] = coords[sel, 1] + oy[step]
    return out


def _reference_affine(centers: np.ndarray, src_w: np.ndarray, W: int, H: int) -> np.ndarray:
    """HRNet's inverse crop affine per crop, (N, 2, 3) float64, from the float32 point pairs of
    get_affine_transform (solved in closed form instead of cv2.getAffineTransform's LU)."""
    f32 = np.float32
    cx, cy = centers[:, 0], centers[:, 1]
    q0x, q0y = cx.astype(f32), cy.astype(f32)
    q1x, q1y = (cx + 0.0).astype(f32), (cy + src_w * -0.5).astype(f32)
    ex, ey = q0x - q1x, q0y - q1y
    q2x, q2y = q1x + (-ey), q1y + ex
    half = 0.5 * W
    p0x, p0y = 0.5 * W, 0.5 * H
    d = np.float64
    m = np.empty((len(cx), 2, 3), dtype=np.float64)
    m[:, 0, 0] = (q1x.astype(d) - q2x.astype(d)) / half
    m[:, 0, 1] = (q0x.astype(d) - q1x.astype(d)) / half
    m[:, 1, 0] = (q1y.astype(d) - q2y.astype(d)) / half
    m[:, 1, 1] = (q0y.astype(d) - q1y.astype(d)) / half
    m[:, 0, 2] = q0x.astype(d) - (m[:, 0, 0] * p0x + m[:, 0, 1] * p0y)
    m[:, 1, 2] = q0y.astype(d) - (m[:, 1, 0] * p0x + m[:, 1, 1] * p0y)
    return m


def _reference_decode_topdown(heatmaps: Any, centers: Any, scales: Any, method: str = "dark",
                              blur_kernel: int = 11) -> Tuple[np.ndarray, np.ndarray]:
    """The NumPy twin of decode_topdown (same arguments, same outputs)."""
    h, c, w, _, k = _check_inputs(heatmaps, centers, scales, method, blur_kernel)
    N, K, H, W = h.shape
    maps = h.reshape(N * K, H, W)
    coords, maxv = _reference_get_max_preds(maps)
    if method == "quarter":
        coords = _reference_quarter(maps, coords)
    elif method == "dark":
        coords = _reference_dark(maps, coords, maxv, k)
    aff = np.repeat(_reference_affine(c, w, W, H), K, axis=0)
    x, y = coords[:, 0].astype(np.float64), coords[:, 1].astype(np.float64)
    kx = ((aff[:, 0, 0] * x + aff[:, 0, 1] * y) + aff[:, 0, 2]).astype(np.float32)
    ky = ((aff[:, 1, 0] * x + aff[:, 1, 1] * y) + aff[:, 1, 2]).astype(np.float32)
    return np.stack([kx, ky], axis=1).reshape(N, K, 2), maxv.reshape(N, K)
