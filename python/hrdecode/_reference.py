"""Pure-NumPy decoder: the specification in code.

Written to be read, not to be fast. It follows the structure and the NumPy operations of the reference
decoders (HigherHRNet ``lib/core/group.py``, mmpose 1.x ``codecs/associative_embedding.py``, Open Model
Zoo / model_api ``AssociativeEmbeddingDecoder``), so every float is computed the way the reference computes
it, with hrdecode's documented choices where the references leave things open:

- NMS: a pixel is a candidate iff it is finite, greater than ``detection_threshold`` and no finite pixel in
  its clipped ``nms_kernel`` window is greater (``nms_kernel == 1``: no suppression). Non-finite pixels are
  ignored everywhere.
- top-k order: value descending, then flat index ascending.
- people are identified by integer ids, not by a float tag key (the references merge two people whose
  first tag value is bit-identical; hrdecode keeps them apart).
- the Hungarian step uses the real ``munkres`` 1.1.4 / ``scipy.optimize.linear_sum_assignment`` when
  installed (``solver="python"``), or hrdecode's native ports (``solver="native"``).

Dimension letters: K joints, H W map, L tag length, M candidates per joint, P people.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import numpy as np

from .decoder import DecodeConfig, blur_taps, default_joint_order

__all__ = ["decode", "candidates", "nms_mask", "refine_search", "default_solver"]

_PAD = 1e10


# ---------------------------------------------------------------------------------------------------------
# Hungarian solvers
# ---------------------------------------------------------------------------------------------------------

def _munkres_python(cost: np.ndarray) -> np.ndarray:
    import munkres  # munkres==1.1.4

    pairs = munkres.Munkres().compute(np.array(cost, dtype=np.float64))
    out = np.full(cost.shape[0], -1, np.int32)
    for r, c in pairs:
        out[r] = c
    return out


def _lsap_python(cost: np.ndarray) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(cost)
    out = np.full(cost.shape[0], -1, np.int32)
    out[r] = c
    return out


def default_solver() -> str:
    """"python" (the real munkres 1.1.4 and scipy) when both are installed, else "native" (hrdecode's ports).
    munkres 3.x breaks ties differently, so only 1.1.4 counts."""
    try:
        import munkres
        import scipy.optimize  # noqa: F401
    except ImportError:
        return "native"
    return "python" if getattr(munkres, "__version__", "") == "1.1.4" else "native"


def _solver(name: str, impl: str) -> Callable[[np.ndarray], np.ndarray]:
    if impl == "python":
        return _munkres_python if name == "munkres114" else _lsap_python
    from . import _C

    return _C.munkres114 if name == "munkres114" else _C.lsap


# ---------------------------------------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------------------------------------

def nms_mask(heat: np.ndarray, kernel: int) -> np.ndarray:
    """(H, W) bool: finite pixels that no finite pixel of the clipped kernel x kernel window exceeds."""
    H, W = heat.shape
    r = (kernel - 1) // 2
    finite = np.isfinite(heat)
    work = np.where(finite, heat, -np.inf).astype(np.float32)
    padded = np.full((H + 2 * r, W + 2 * r), -np.inf, np.float32)
    padded[r:r + H, r:r + W] = work
    mx = np.full((H, W), -np.inf, np.float32)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            mx = np.maximum(mx, padded[dy:dy + H, dx:dx + W])
    return finite & (work == mx)


def candidates(heat: np.ndarray, kernel: int, threshold: float, M: int) -> Tuple[np.ndarray, np.ndarray]:
    """Top-M candidates of one (H, W) map: (values (m,) float32, flat indices (m,) int64), best first."""
    mask = nms_mask(heat, kernel) & (heat.astype(np.float64) > threshold)
    idx = np.flatnonzero(mask)
    vals = heat.reshape(-1)[idx]
    order = np.lexsort((idx, -vals.astype(np.float64)))[:M]
    return vals[order].astype(np.float32), idx[order]


# ---------------------------------------------------------------------------------------------------------
# grouping
# ---------------------------------------------------------------------------------------------------------

class _Person:
    """One person: joints (K, 3+L) float64 rows (x, y, val, tag...), plus the tag state of its reference."""

    def __init__(self, K: int, L: int) -> None:
        self.joints = np.zeros((K, 3 + L), np.float64)
        self.tags: List[np.ndarray] = []           # HigherHRNet / mmpose: tags in insertion order
        self.pose_tag = np.zeros(L, np.float32)    # OMZ Pose: running mean (float32)
        self.c = np.zeros(2, np.float64)           # running mean of (x, y) (float64 after the first add)
        self.n = 0

    def add(self, idx: int, joint: np.ndarray, tag: np.ndarray) -> None:
        self.joints[idx] = joint
        self.tags.append(tag)
        self.c = (self.c * self.n + joint[:2]) / (self.n + 1)
        self.pose_tag = ((self.pose_tag * np.float32(self.n)) + tag) / np.float32(self.n + 1)
        self.n += 1

    def mean_tag(self, variant: str) -> np.ndarray:
        return self.pose_tag if variant == "omz" else np.mean(self.tags, axis=0)


def _group(cfg: DecodeConfig, order: Sequence[int], vals: List[np.ndarray], locs: List[np.ndarray],
           tags: List[np.ndarray], K: int, L: int, solve: Callable[[np.ndarray], np.ndarray]) -> List[_Person]:
    variant = cfg.variant
    omz = variant == "omz"
    people: List[_Person] = []
    for idx in order:
        joints = np.concatenate((locs[idx].astype(np.int64), vals[idx][:, None], tags[idx]), 1)  # float64
        t = tags[idx]
        keep = joints[:, 2] > cfg.detection_threshold
        joints, t = joints[keep], t[keep]
        if joints.shape[0] == 0:
            continue
        if not people:
            for r in range(joints.shape[0]):
                p = _Person(K, L)
                p.add(idx, joints[r], t[r])
                people.append(p)
            continue
        grouped = people[:cfg.max_people] if variant == "higherhrnet" else people
        if cfg.ignore_too_much:
            if (len(people) == cfg.max_people) if omz else (len(grouped) >= cfg.max_people):
                continue
        G = len(grouped)
        person_tags = np.array([p.mean_tag(variant) for p in grouped])
        if omz:
            diff = t[:, None, :] - person_tags[None, :, :]                       # float32
        else:
            diff = joints[:, None, 3:] - person_tags[None, :, :]                 # float64
        dist = np.linalg.norm(diff, ord=2, axis=2)
        saved = dist.copy()
        if cfg.dist_reweight:
            centers = np.stack([p.c for p in grouped])[None]
            d2 = np.linalg.norm(joints[:, :2][:, None, :] - centers, ord=2, axis=2)
            close = dist < (np.float32(cfg.tag_threshold) if omz else cfg.tag_threshold)
            d2 /= np.min(d2, axis=0, keepdims=True) + 1e-10
            dist[close] *= d2[close]
        if cfg.use_detection_val:
            cost = np.round(dist) * (np.float32(100) if omz else 100.0) - joints[:, 2:3]
        else:
            cost = dist.astype(np.float64)
        cost = np.where(np.isfinite(cost), cost, _PAD)
        R = joints.shape[0]
        if R > G:
            cost = np.concatenate((cost, np.full((R, R - G), _PAD)), axis=1)
        assign = solve(np.ascontiguousarray(cost, dtype=np.float64))
        for r in range(R):
            col = int(assign[r])
            ok = 0 <= col < G and (saved[r, col] < (np.float32(cfg.tag_threshold) if omz else cfg.tag_threshold))
            if ok:
                grouped[col].add(idx, joints[r], t[r])
            else:
                p = _Person(K, L)
                p.add(idx, joints[r], t[r])
                people.append(p)
    return people


# ---------------------------------------------------------------------------------------------------------
# adjust and refine
# ---------------------------------------------------------------------------------------------------------

def _shift(variant: str, hm: np.ndarray, x: int, y: int) -> Tuple[np.float32, np.float32]:
    H, W = hm.shape
    q = np.float32(0.25)
    z = np.float32(0)

    def sign(d: np.float32) -> np.float32:
        return q if d > 0 else (-q if d < 0 else z)

    if variant == "higherhrnet":
        sx = q if hm[y, min(x + 1, W - 1)] > hm[y, max(x - 1, 0)] else -q
        sy = q if hm[min(y + 1, H - 1), x] > hm[max(y - 1, 0), x] else -q
        return sx, sy
    if variant == "mmpose":
        sx = sign(hm[y, x + 1] - hm[y, x - 1]) if (1 < x < W - 1 and 0 < y < H) else z
        sy = sign(hm[y + 1, x] - hm[y - 1, x]) if (1 < y < H - 1 and 0 < x < W) else z
        return sx, sy
    if 1 < x < W - 1 and 1 < y < H - 1:
        return sign(hm[y, x + 1] - hm[y, x - 1]), sign(hm[y + 1, x] - hm[y - 1, x])
    return z, z


_DARK_MAX_OFFSET = 1.0  # dark_rule.h kDarkBottomUpMaxOffset


class _DarkMaps:
    """The `dark` option's log maps, made on first use per joint: log(max(blur(map), 1e-10)) in float32,
    the blur of ``topdown._reference_blur`` (float64, zero padding, rounded to float32)."""

    def __init__(self, maps: np.ndarray, kernel: int) -> None:
        self.maps, self.kernel = maps, kernel
        self.cache: dict = {}

    def log_map(self, k: int) -> np.ndarray:
        if k not in self.cache:
            from .topdown import _reference_blur

            b = _reference_blur(self.maps[k][None], self.kernel)[0]
            b = np.where(b < np.float32(1e-10), np.float32(1e-10), b)
            self.cache[k] = np.log(b.astype(np.float64)).astype(np.float32)
        return self.cache[k]

    def shift(self, k: int, x: int, y: int) -> "Tuple[np.float32, np.float32] | None":
        """The DARK shift at integer (x, y) of joint k, or None where the step does not apply."""
        H, W = self.maps.shape[1:]
        if not (1 < x < W - 2 and 1 < y < H - 2):
            return None
        from .topdown import _reference_dark_derivatives

        lm = self.log_map(k)
        dx, dy, dxx, dxy, dyy = _reference_dark_derivatives(lambda oy, ox: lm[y + oy, x + ox])
        with np.errstate(all="ignore"):
            det = dxx * dyy - dxy * dxy
            if not (dxx < 0 and det > 0 and np.isfinite(det)):
                return None
            gx, gy, gxx, gxy, gyy = (float(v) for v in (dx, dy, dxx, dxy, dyy))
            dd = gxx * gyy - gxy * gxy
            ox = -(gyy * gx - gxy * gy) / dd
            oy = -(gxx * gy - gxy * gx) / dd
        if not (abs(ox) <= _DARK_MAX_OFFSET and abs(oy) <= _DARK_MAX_OFFSET):
            return None
        return np.float32(ox), np.float32(oy)


def udp_log_maps(heat: np.ndarray, kernel: int) -> np.ndarray:
    """mmpose's DARK-UDP log maps of (K, H, W) maps, float32 (dark_rule.h "mmpose DARK-UDP"): OpenCV's
    symmetric float32 blur of the zero-padded map (rows, then columns: centre * k[r] + (left + right) * k[r+j]),
    times (map maximum / blurred maximum), clipped to [1e-3, 50], log."""
    from .topdown import _reference_gaussian_kernel

    f32 = np.float32
    kern = _reference_gaussian_kernel(kernel).astype(f32)
    r = kernel // 2
    K, H, W = heat.shape
    finite = np.isfinite(heat)
    P = np.zeros((K, H, W + 2 * r), f32)
    P[:, :, r:r + W] = np.where(finite, heat, f32(0))
    R = P[:, :, r:r + W] * kern[r]
    for j in range(1, r + 1):
        R = R + (P[:, :, r - j:r - j + W] + P[:, :, r + j:r + j + W]) * kern[r + j]
    Q = np.zeros((K, H + 2 * r, W), f32)
    Q[:, r:r + H] = R
    B = Q[:, r:r + H] * kern[r]
    for j in range(1, r + 1):
        B = B + (Q[:, r - j:r - j + H] + Q[:, r + j:r + j + H]) * kern[r + j]
    out = np.empty_like(B)
    for k in range(K):
        fin = heat[k][finite[k]]
        omax = f32(fin.max()) if fin.size else f32(0)
        bmax = f32(B[k].max())
        factor = f32(1) if bmax == 0 else f32(omax / bmax)
        v = (B[k] * factor).astype(f32)
        v = np.where(v < f32(1e-3), f32(1e-3), np.where(v > f32(50), f32(50), v))
        out[k] = np.log(v.astype(np.float64)).astype(f32)
    return out


def _udp_shift(lm: np.ndarray, x: int, y: int) -> Tuple[np.float32, np.float32]:
    """The codec's DARK-UDP Taylor step at integer (x, y) of a log map, edge-padded (dark_rule.h udp_shift)."""
    H, W = lm.shape
    f32 = np.float32

    def at(yy: int, xx: int) -> np.float32:
        return lm[min(max(yy, 0), H - 1), min(max(xx, 0), W - 1)]

    i_, ix1, iy1, ix1y1 = at(y, x), at(y, x + 1), at(y + 1, x), at(y + 1, x + 1)
    ix1_y1_, ix1_, iy1_ = at(y - 1, x - 1), at(y, x - 1), at(y - 1, x)
    dx, dy = f32(0.5) * (ix1 - ix1_), f32(0.5) * (iy1 - iy1_)
    dxx, dyy = (ix1 - f32(2) * i_) + ix1_, (iy1 - f32(2) * i_) + iy1_
    dxy = f32(0.5) * (((((((ix1y1 - ix1) - iy1) + i_) + i_) - ix1_) - iy1_) + ix1_y1_)
    eps = float(np.finfo(np.float32).eps)
    h00, h01, h11 = float(dxx) + eps, float(dxy), float(dyy) + eps
    det = h00 * h11 - h01 * h01
    if det == 0 or not np.isfinite(det):
        return f32(0), f32(0)
    ox = (h11 * float(dx) - h01 * float(dy)) / det
    oy = (h00 * float(dy) - h01 * float(dx)) / det
    nx, ny = x - ox, y - oy  # a step ending > 1 px outside the map is not taken (the codec would move there)
    if not (-1.0 <= nx <= W and -1.0 <= ny <= H):
        return f32(0), f32(0)
    return f32(-ox), f32(-oy)


def _joint_shift(variant: str, hm: np.ndarray, k: int, x: int, y: int, dark: "_DarkMaps | None",
                 adjust: bool) -> Tuple[np.float32, np.float32]:
    """DARK where the `dark` option is on and the step applies, else the adjust shift (if adjust), else 0."""
    d = dark.shift(k, x, y) if dark is not None else None
    if d is not None:
        return d
    return _shift(variant, hm, x, y) if adjust else (np.float32(0), np.float32(0))


def _penalty(variant: str, tag: np.ndarray, ptag: np.ndarray) -> np.ndarray:
    """(H, W) float32 amount subtracted from the heat: tag (H, W, L) float32, ptag (L,) float32."""
    if variant == "higherhrnet":
        tt = (((tag - ptag[None, None, :]) ** 2).sum(axis=2) ** 0.5)
        return np.round(tt)
    if variant == "mmpose":
        d = np.linalg.norm(np.moveaxis(tag, 2, 0) - ptag.reshape(-1, 1, 1), ord=2, axis=0)
        return np.round(d) * np.float32(100)
    d = np.abs(tag[..., 0] - ptag[0]) + np.float32(0.5)
    with np.errstate(invalid="ignore"):
        # int32 truncation; finite values beyond int32 saturate, NaN and inf stay (the pixel is never used)
        r = np.where(d < np.float32(2.0**31), d, np.float32(2.0**31))
        r = np.where(np.isfinite(d), r, d)
        return np.trunc(r).astype(np.float32)


def refine_search(variant: str, heat: np.ndarray, tag: np.ndarray, ptag: np.ndarray,
                  heat_abs: bool = False) -> Tuple[int, float]:
    """Argmax of heat - penalty (first flat index on ties) over pixels with finite heat and score.
    Returns (flat index, heat) or (-1, 0.0)."""
    h = np.abs(heat) if heat_abs else heat
    with np.errstate(invalid="ignore", over="ignore"):
        score = (h - _penalty(variant, tag, ptag)).astype(np.float32)
    valid = np.isfinite(h) & np.isfinite(score)
    if not valid.any():
        return -1, 0.0
    s = np.where(valid, score, -np.inf).reshape(-1)
    best = s.max()
    i = int(np.flatnonzero(s == best)[0])
    return i, float(h.reshape(-1)[i])


def _trunc_clip(v: np.float32, hi: int) -> int:
    if not v > -1.0:
        return 0
    if not v < hi:
        return hi
    return int(v)


# ---------------------------------------------------------------------------------------------------------
# the decoder
# ---------------------------------------------------------------------------------------------------------

def decode(heatmaps: np.ndarray, tags: np.ndarray, cfg: DecodeConfig,
           solver: str = "python") -> Tuple[np.ndarray, np.ndarray]:
    """Decode one image. heatmaps (K, H, W), tags (K, H, W, L), both float32.
    Returns keypoints (P, K, 3) float32 and scores (P,) float32, like :class:`hrdecode.Decoder`."""
    heat = np.asarray(heatmaps, np.float32)
    tag = np.asarray(tags, np.float32)
    if tag.ndim == 3:
        tag = tag[..., None]
    K, H, W = heat.shape
    L = tag.shape[3]
    variant = cfg.variant
    omz = variant == "omz"
    order = cfg.joint_order if cfg.joint_order is not None else default_joint_order(variant, K)
    delta = np.float32(cfg.delta)

    # 1. candidates (NMS, threshold, top-k) and their tags
    vals, locs, ctags = [], [], []
    for k in range(K):
        v, i = candidates(heat[k], cfg.nms_kernel, cfg.detection_threshold, cfg.max_people)
        vals.append(v)
        locs.append(np.stack([i % W, i // W], axis=1).reshape(-1, 2))
        ctags.append(tag[k].reshape(-1, L)[i])

    # 2. grouping
    people = _group(cfg, order, vals, locs, ctags, K, L, _solver(cfg.solver, solver))
    if variant == "mmpose":
        people = people[:cfg.max_people]
    P = len(people)
    kp = np.zeros((P, K, 3), np.float32)
    for p, person in enumerate(people):
        kp[p] = person.joints[:, :3].astype(np.float32)
    absheat = np.abs(heat) if cfg.heat_abs else heat

    # 3. adjust (or DARK) and scores
    dark = _DarkMaps(absheat, blur_taps(cfg)) if cfg.dark else None
    # refined joints: HigherHRNet and mmpose shift on the signed map, OMZ on |heat| (whatever heat_abs says)
    dark_signed = (_DarkMaps(heat, blur_taps(cfg)) if cfg.heat_abs else dark) if cfg.dark else None
    dark_abs = (dark if cfg.heat_abs else _DarkMaps(np.abs(heat), blur_taps(cfg))) if cfg.dark else None
    logs = udp_log_maps(heat, blur_taps(cfg)) if cfg.use_udp and P > 0 else None
    for p in range(P):
        for k in range(K):
            if kp[p, k, 2] > 0:
                x, y = int(kp[p, k, 0]), int(kp[p, k, 1])
                if logs is not None:
                    sx, sy = _udp_shift(logs[k], x, y)
                else:
                    sx, sy = _joint_shift(variant, absheat[k], k, x, y, dark, cfg.adjust)
                kp[p, k, 0] += sx
                kp[p, k, 1] += sy
                if variant != "higherhrnet" or cfg.adjust or cfg.dark:
                    kp[p, k, :2] += delta
            elif omz:
                kp[p, k, :2] += delta
    scores = np.array([kp[p, :, 2].mean() for p in range(P)], np.float32)
    keep = np.arange(P)
    if omz and cfg.pose_threshold is not None:
        keep = np.flatnonzero(scores > np.float32(cfg.pose_threshold))

    # 4. refine
    if cfg.refine:
        for j, p in enumerate(keep):
            if omz:
                # model_api pairs the j-th kept pose with the j-th pose's tag (refine_own_tag=False)
                ptag = people[p if cfg.refine_own_tag else j].pose_tag
            else:
                found = [tag[k, _trunc_clip(kp[p, k, 1], H - 1), _trunc_clip(kp[p, k, 0], W - 1)]
                         for k in range(K) if kp[p, k, 2] > 0]
                if not found:
                    continue
                ptag = np.mean(found, axis=0)
            for k in range(K):
                if people[p].joints[k, 2] > 0:
                    continue
                # use_udp: the codec fills from its log maps
                i, hv = refine_search(variant, logs[k] if logs is not None else heat[k], tag[k], ptag, cfg.heat_abs)
                if i < 0:
                    continue
                x, y = i % W, i // W
                if variant == "higherhrnet":
                    if hv > 0:
                        # HigherHRNet adjusts refined joints on the signed map, whatever `adjust` says
                        sx, sy = _joint_shift("higherhrnet", heat[k], k, x, y, dark_signed, True)
                        kp[p, k] = (np.float32((x + float(delta)) + float(sx)),
                                    np.float32((y + float(delta)) + float(sy)), hv)
                elif variant == "mmpose":
                    sx, sy = _joint_shift("mmpose", heat[k], k, x, y, dark_signed, False)
                    kp[p, k] = (np.float32(x) + sx, np.float32(y) + sy, hv)
                elif hv > 0:
                    sx, sy = _joint_shift("omz", np.abs(heat[k]), k, x, y, dark_abs, True)
                    kp[p, k] = (np.float32(x) + sx, np.float32(y) + sy, hv)

    if cfg.pose_threshold is not None and not omz:
        keep = np.flatnonzero(scores > np.float32(cfg.pose_threshold))
    return kp[keep], scores[keep]
