"""hrdecode.decode_topdown: HRNet argmax / quarter offset and DarkPose DARK on person-crop heatmaps.

Three layers of checks:
  * native (cpu, emu, cuda when present) == the NumPy twin hrdecode.topdown._reference_decode_topdown,
    bit for bit, for every method (the twin evaluates dark_rule.h's operations in the same order);
  * the twin / native against the references *as their code runs* (rewritten below: cv2.GaussianBlur on
    the padded float64 map, float32 log, float32 2x2 inverse, cv2.getAffineTransform), with the
    tolerances stated at each test;
  * independent facts: a Gaussian rendered at a known sub-pixel point is recovered by DARK far better
    than by the quarter offset; edge cases; bad input.
"""
from __future__ import annotations

import math
import threading
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hrdecode
from hrdecode import _C
from hrdecode import topdown as td

METHODS = ["argmax", "quarter", "dark"]
NATIVE = ["cpu", "emu"] + (["cuda"] if hrdecode.cuda_unavailable_reason() is None else [])


def gaussian_maps(rng, N, K, H, W, sigma=2.0, noise=0.02, margin=0.0):
    """Maps with one Gaussian peak each (at a uniform sub-pixel point), amplitude in [0.2, 1], plus noise.
    Returns (maps float32, true centres (N,K,2))."""
    yy, xx = np.mgrid[0:H, 0:W]
    h = np.empty((N, K, H, W), np.float32)
    mu = np.empty((N, K, 2))
    for n in range(N):
        for k in range(K):
            cx, cy = rng.uniform(margin, W - 1 - margin), rng.uniform(margin, H - 1 - margin)
            mu[n, k] = cx, cy
            g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma * sigma)) * rng.uniform(0.2, 1.0)
            h[n, k] = g + noise * rng.random((H, W))
    return h, mu


def crops(rng, N):
    c = rng.uniform(50, 600, (N, 2)).astype(np.float32)
    s = rng.uniform(0.3, 3.0, (N, 2)).astype(np.float32)
    return c, s


def assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ---- the references as their code runs (rewritten, for the tolerance checks) ----------------------------

def _asw_max_preds(b):
    N, K, H, W = b.shape
    flat = b.reshape(N, K, -1)
    idx, mv = np.argmax(flat, 2), np.amax(flat, 2)
    p = np.repeat(idx[..., None], 2, axis=2).astype(np.float32)
    p[..., 0] = p[..., 0] % W
    p[..., 1] = np.floor(p[..., 1] / W)
    p *= np.repeat((mv > 0.0)[..., None], 2, axis=2).astype(np.float32)
    return p, mv


def _asw_affine(cv2, center, scale, W, H):
    src_w = (scale * 200.0)[0]
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, src_w * -0.5 * np.float64(1.0)])
    dst[0] = [W * 0.5, H * 0.5]
    dst[1] = np.array([W * 0.5, H * 0.5]) + np.array([0, W * -0.5], np.float32)

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]], np.float32)

    src[2] = third(src[0], src[1])
    dst[2] = third(dst[0], dst[1])
    return cv2.getAffineTransform(np.float32(dst), np.float32(src))


def _asw_to_image(cv2, coords, c, s, W, H):
    out = coords.copy()
    for i in range(coords.shape[0]):
        t = _asw_affine(cv2, c[i], s[i], W, H)
        for p in range(coords.shape[1]):
            out[i, p] = np.dot(t, np.array([coords[i, p, 0], coords[i, p, 1], 1.0]))[:2]
    return out


def asw_hrnet(cv2, b, c, s, quarter):
    co, mv = _asw_max_preds(b)
    N, K, H, W = b.shape
    if quarter:
        for n in range(N):
            for p in range(K):
                hm = b[n, p]
                px, py = int(math.floor(co[n, p, 0] + 0.5)), int(math.floor(co[n, p, 1] + 0.5))
                if 1 < px < W - 1 and 1 < py < H - 1:
                    d = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                    co[n, p] += np.sign(d) * 0.25
    return _asw_to_image(cv2, co, c, s, W, H), mv


def asw_blur(cv2, m, k):
    """DarkPose's blur of one map: cv2 on the zero-padded float64 copy, stored as float32."""
    H, W = m.shape
    r = (k - 1) // 2
    dr = np.zeros((H + 2 * r, W + 2 * r))
    dr[r:r + H, r:r + W] = m
    dr = cv2.GaussianBlur(dr, (k, k), 0)
    return dr[r:r + H, r:r + W].astype(np.float32)


def asw_darkpose(cv2, b, c, s, k=11):
    co, mv = _asw_max_preds(b)
    N, K, H, W = b.shape
    hm = b.copy()
    for i in range(N):
        for j in range(K):
            om = np.max(hm[i, j])
            hm[i, j] = asw_blur(cv2, hm[i, j], k)
            hm[i, j] *= om / np.max(hm[i, j])
    hm = np.log(np.maximum(hm, 1e-10))
    for n in range(N):
        for p in range(K):
            m = hm[n][p]
            px, py = int(co[n, p, 0]), int(co[n, p, 1])
            if 1 < px < W - 2 and 1 < py < H - 2:
                dx = 0.5 * (m[py][px + 1] - m[py][px - 1])
                dy = 0.5 * (m[py + 1][px] - m[py - 1][px])
                dxx = 0.25 * (m[py][px + 2] - 2 * m[py][px] + m[py][px - 2])
                dxy = 0.25 * (m[py + 1][px + 1] - m[py - 1][px + 1] - m[py + 1][px - 1] + m[py - 1][px - 1])
                dyy = 0.25 * (m[py + 2][px] - 2 * m[py][px] + m[py - 2][px])
                if dxx * dyy - dxy ** 2 != 0:
                    hess = np.array([[dxx, dxy], [dxy, dyy]])
                    co[n, p] += -np.linalg.inv(hess) @ np.array([dx, dy])
    return _asw_to_image(cv2, co, c, s, W, H), mv


# ---- native == NumPy twin ---------------------------------------------------------------------------

@pytest.mark.parametrize("backend", NATIVE)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(8, 17, 64, 48), (3, 1, 32, 24), (2, 5, 7, 9), (2, 3, 4, 6), (1, 2, 3, 3),
                                   (2, 2, 1, 1), (1, 4, 5, 5), (2, 3, 96, 72)])
def test_native_equals_twin(backend, method, shape):
    rng = np.random.default_rng(zlib.crc32(repr((method, shape)).encode()))
    N, K, H, W = shape
    h, _ = gaussian_maps(rng, N, K, H, W)
    c, s = crops(rng, N)
    for k in (11, 3) if method == "dark" else (11,):
        assert_same(td.decode_topdown(h, c, s, method, k, backend=backend),
                    td._reference_decode_topdown(h, c, s, method, k))


@pytest.mark.parametrize("method", METHODS)
def test_native_equals_twin_random_maps(method):
    """Noise maps (no clear peak; near-singular Hessians), ties, plateaus, negative values, many kernels."""
    rng = np.random.default_rng(7)
    N, K, H, W = 6, 9, 20, 17
    h = rng.standard_normal((N, K, H, W)).astype(np.float32)
    h[0] = np.round(h[0])                      # many ties
    h[1, :, 5:9, 5:9] = 3.0                    # plateaus
    h[2] = -np.abs(h[2])                       # no positive maximum
    c, s = crops(rng, N)
    for k in (1, 3, 5, 7, 9, 11, 13, 21):
        for backend in NATIVE:
            assert_same(td.decode_topdown(h, c, s, method, k, backend=backend),
                        td._reference_decode_topdown(h, c, s, method, k))


def test_gaussian_kernel_twin_and_cv2():
    """Native coefficients == twin's exactly; == cv2.getGaussianKernel(k, 0) exactly for k <= 9 (OpenCV's
    fixed tables) and within 1e-16 beyond (OpenCV evaluates exp in software floating point)."""
    cv2 = pytest.importorskip("cv2")
    for k in range(1, 42, 2):
        nat = _C.topdown_gaussian_kernel(k)
        np.testing.assert_array_equal(nat, td._reference_gaussian_kernel(k))
        ref = cv2.getGaussianKernel(k, 0, ktype=cv2.CV_64F).ravel()
        if k <= 9:
            np.testing.assert_array_equal(nat, ref)
        else:
            assert np.abs(nat - ref).max() <= 1e-16, k
        assert abs(nat.sum() - 1.0) < 1e-15


@pytest.mark.parametrize("k", [3, 5, 7, 9, 11, 13, 17])
def test_blur_matches_cv2(k):
    """The twin's blur (== native's, through test_native_equals_twin) against cv2.GaussianBlur on the
    zero-padded float64 map, both rounded to float32: equal, or 1 float32 ulp apart where the float64 sums
    (added in another order) straddle a float32 rounding boundary."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(k)
    h, _ = gaussian_maps(rng, 2, 6, 40, 31)
    h[1] = rng.standard_normal(h[1].shape)
    maps = h.reshape(-1, 40, 31)
    ours = td._reference_blur(maps, k)
    ref = np.stack([asw_blur(cv2, m, k) for m in maps])
    ulp = np.spacing(np.maximum(np.abs(ours), np.abs(ref)))
    assert np.all(np.abs(ours - ref) <= ulp), np.max(np.abs(ours - ref) / ulp)
    assert np.mean(ours == ref) > 0.99


# ---- against the references as their code runs --------------------------------------------------------

@pytest.mark.parametrize("method", ["argmax", "quarter"])
def test_hrnet_as_written(method):
    """HRNet get_final_preds (argmax / quarter) + transform_preds with cv2.getAffineTransform: identical
    scores; keypoints equal or 1 float32 ulp apart (cv2 solves the affine by LU in float64, we in closed
    form from the same float32 points)."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(11)
    h, _ = gaussian_maps(rng, 12, 17, 64, 48)
    c, s = crops(rng, 12)
    ours = td.decode_topdown(h, c, s, method)
    ref = asw_hrnet(cv2, h, c, s, method == "quarter")
    np.testing.assert_array_equal(ours[1], ref[1])
    assert np.all(np.abs(ours[0] - ref[0]) <= np.spacing(np.abs(ref[0]).astype(np.float32)))
    assert np.mean(ours[0] == ref[0]) > 0.99


@pytest.mark.parametrize("k", [11, 3])
def test_darkpose_as_written(k):
    """DarkPose get_final_preds (cv2 blur, float32 log, float32 np.linalg.inv) + transform_preds: scores
    identical; keypoints within 1e-4 heatmap px (measured ~1e-5: float32 inverse and log vs our float64
    offset) plus 2 float32 ulps of the image coordinate (the affine)."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(12 + k)
    sigma = 2.0 if k == 11 else 1.0
    h, _ = gaussian_maps(rng, 10, 17, 64, 48, sigma=sigma)
    c, s = crops(rng, 10)
    ours = td.decode_topdown(h, c, s, "dark", k)
    ref = asw_darkpose(cv2, h, c, s, k)
    np.testing.assert_array_equal(ours[1], ref[1])
    px = (s[:, 0].astype(np.float64) * 200 / 48)[:, None, None]  # image px per heatmap px
    tol = 1e-4 * px + 2 * np.spacing(np.abs(ref[0]).astype(np.float32))
    assert np.all(np.abs(ours[0] - ref[0]) <= tol), np.max(np.abs(ours[0] - ref[0]) / px)


# ---- independent facts --------------------------------------------------------------------------------

def _identity_crop(N, H, W):
    """Centre (W/2, H/2) and width W: image coordinates == heatmap coordinates."""
    return np.tile([W / 2, H / 2], (N, 1)).astype(np.float32), np.full((N, 2), W / 200, np.float32)


def test_affine_identity_and_scaling():
    rng = np.random.default_rng(3)
    h, _ = gaussian_maps(rng, 2, 4, 64, 48)
    c, s = _identity_crop(2, 64, 48)
    kp, _ = td.decode_topdown(h, c, s, "argmax")
    co, _ = _asw_max_preds(h)
    np.testing.assert_array_equal(kp, co)
    # scale 2x, centre moved: x_img = cx + 2 (x - W/2)
    c2 = np.array([[300.0, 200.0], [10.0, -5.0]], np.float32)
    s2 = np.full((2, 2), 2 * 48 / 200, np.float32)
    kp2, _ = td.decode_topdown(h, c2, s2, "argmax")
    exp = c2[:, None, :] + 2 * (co - np.array([24.0, 32.0]))
    np.testing.assert_allclose(kp2, exp, rtol=0, atol=1e-4)


@pytest.mark.parametrize("sigma,k,max_err,mean_err", [(2.0, 11, 0.02, 0.005), (1.0, 3, 0.03, 0.015)])
def test_dark_recovers_subpixel_peak(sigma, k, max_err, mean_err):
    """A Gaussian (the heatmap model DarkPose assumes) rendered at a known sub-pixel point, away from the
    border: DARK recovers it to ~0.001-0.01 px (measured mean 0.0005 px for sigma 2 / k 11, 0.009 px for
    sigma 1 / k 3, where the sampled Gaussian is coarser), the quarter offset only to its quarter-pixel
    grid (mean ~0.2 px)."""
    rng = np.random.default_rng(5)
    N, K, H, W = 8, 17, 64, 48
    h, mu = gaussian_maps(rng, N, K, H, W, sigma=sigma, noise=0.0, margin=4.0)
    c, s = _identity_crop(N, H, W)
    err = {m: np.linalg.norm(td.decode_topdown(h, c, s, m, k)[0] - mu, axis=2) for m in METHODS}
    assert err["dark"].max() < max_err, err["dark"].max()
    assert err["dark"].mean() < mean_err, err["dark"].mean()
    assert err["quarter"].mean() > 0.1
    assert err["dark"].mean() * 20 < err["quarter"].mean() < err["argmax"].mean()


def test_dark_with_noise_still_better():
    rng = np.random.default_rng(6)
    N, K, H, W = 8, 17, 64, 48
    h, mu = gaussian_maps(rng, N, K, H, W, sigma=2.0, noise=0.05, margin=4.0)
    c, s = _identity_crop(N, H, W)
    e_dark = np.linalg.norm(td.decode_topdown(h, c, s, "dark")[0] - mu, axis=2).mean()
    e_q = np.linalg.norm(td.decode_topdown(h, c, s, "quarter")[0] - mu, axis=2).mean()
    assert e_dark < 0.5 * e_q, (e_dark, e_q)


def test_scores_are_maxima():
    rng = np.random.default_rng(8)
    h, _ = gaussian_maps(rng, 3, 5, 16, 12)
    c, s = crops(rng, 3)
    for m in METHODS:
        _, sc = td.decode_topdown(h, c, s, m)
        np.testing.assert_array_equal(sc, h.reshape(3, 5, -1).max(axis=2))


# ---- edge cases ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", NATIVE)
def test_peak_at_border(backend):
    """Peaks on the border rows/columns and one pixel inside: no quarter shift at 0/1/W-1, no Taylor step
    within 2 px of the border; the coordinates are the integer peak there."""
    H, W = 12, 10
    pts = [(0, 0), (W - 1, H - 1), (1, 5), (W - 2, 5), (5, 1), (5, H - 2), (2, 2), (W - 3, H - 3)]
    h = np.zeros((1, len(pts), H, W), np.float32)
    yy, xx = np.mgrid[0:H, 0:W]
    for i, (x, y) in enumerate(pts):
        h[0, i] = np.exp(-((xx - x - 0.3) ** 2 + (yy - y - 0.2) ** 2) / 2.0)
        h[0, i, y, x] += 1.0  # make the integer peak unambiguous
    c, s = _identity_crop(1, H, W)
    a = td.decode_topdown(h, c, s, "argmax", backend=backend)[0][0]
    np.testing.assert_array_equal(a, np.array(pts, np.float32))
    d = td.decode_topdown(h, c, s, "dark", 3, backend=backend)[0][0]
    q = td.decode_topdown(h, c, s, "quarter", backend=backend)[0][0]
    for i, (x, y) in enumerate(pts):
        if not (1 < x < W - 2 and 1 < y < H - 2):
            np.testing.assert_array_equal(d[i], [x, y])
        else:
            assert not np.array_equal(d[i], [x, y])
        if not (1 < x < W - 1 and 1 < y < H - 1):
            np.testing.assert_array_equal(q[i], [x, y])
    for m in METHODS:
        assert_same(td.decode_topdown(h, c, s, m, 3, backend=backend), td._reference_decode_topdown(h, c, s, m, 3))


@pytest.mark.parametrize("backend", NATIVE)
def test_flat_zero_negative_maps(backend):
    """Flat positive map: argmax at flat index 0 -> (0, 0), no step. All-zero and all-negative maps: the
    maximum is not > 0, so the joint sits at heatmap (0, 0) (as get_max_preds masks it)."""
    H, W = 16, 12
    h = np.stack([np.full((H, W), 0.5), np.zeros((H, W)), np.full((H, W), -1.0), -np.arange(H * W).reshape(H, W)])
    h = h[None].astype(np.float32)
    c, s = _identity_crop(1, H, W)
    for m in METHODS:
        kp, sc = td.decode_topdown(h, c, s, m, backend=backend)
        np.testing.assert_array_equal(kp[0], np.zeros((4, 2), np.float32))
        np.testing.assert_array_equal(sc[0], np.array([0.5, 0.0, -1.0, 0.0], np.float32))


@pytest.mark.parametrize("backend", NATIVE)
def test_nan_and_inf_maps(backend):
    """Non-finite pixels are never the maximum and read as 0 by the quarter step and the blur: keypoints
    stay finite (the references would return NaN); a map with no finite pixel scores 0 at (0, 0)."""
    rng = np.random.default_rng(9)
    N, K, H, W = 3, 6, 24, 20
    h, _ = gaussian_maps(rng, N, K, H, W)
    h[0, 0] = np.nan
    h[0, 1, 3, 4] = np.nan
    h[0, 2] = np.inf
    h[0, 3, ::2] = -np.inf
    h[1, 0, 10:14, 10:14] = np.nan          # NaN right at / around the peak region
    h[1, 1][h[1, 1] > 0.5] = np.inf
    h[2] = np.where(rng.random((K, H, W)) < 0.3, np.nan, h[2])
    c, s = crops(rng, N)
    before = h.copy()
    for m in METHODS:
        kp, sc = td.decode_topdown(h, c, s, m, backend=backend)
        assert np.all(np.isfinite(kp)) and np.all(np.isfinite(sc))
        assert sc[0, 0] == 0 and sc[0, 2] == 0
        assert_same((kp, sc), td._reference_decode_topdown(h, c, s, m))
    np.testing.assert_array_equal(h, before)


def test_blur_max_zero_or_negative_is_finite():
    """A positive spike amid large negatives: the blurred maximum is <= 0, the rescale flips or explodes;
    the Taylor step is skipped when it is not finite, never NaN."""
    H, W = 15, 15
    h = np.full((1, 4, H, W), -5.0, np.float32)
    h[0, 0, 7, 7] = 1.0
    h[0, 1] = 0.0
    h[0, 1, 7, 7] = 1e-30
    # subnormal maps: the blurred float32 map underflows to +0 and -0 (the zero's sign must not matter)
    tiny = np.float32(1.4e-45)
    h[0, 2] = np.where((np.add.outer(np.arange(H), np.arange(W)) % 2) == 0, tiny, -tiny)
    h[0, 2, 7, 7] = 2 * tiny
    h[0, 3] = -tiny
    h[0, 3, 6, 6] = tiny
    c, s = _identity_crop(1, H, W)
    for backend in NATIVE:
        kp, sc = td.decode_topdown(h, c, s, "dark", backend=backend)
        assert np.all(np.isfinite(kp))
        assert_same((kp, sc), td._reference_decode_topdown(h, c, s, "dark"))


def test_small_maps_and_k1():
    """h or w < 5: DARK never applies (equals argmax); K = 1 and N = 0 work."""
    rng = np.random.default_rng(10)
    for H, W in [(4, 9), (9, 4), (1, 7), (3, 3), (2, 2)]:
        h = rng.random((2, 1, H, W)).astype(np.float32)
        c, s = crops(rng, 2)
        np.testing.assert_array_equal(td.decode_topdown(h, c, s, "dark")[0], td.decode_topdown(h, c, s, "argmax")[0])
    kp, sc = td.decode_topdown(np.zeros((0, 17, 8, 8)), np.zeros((0, 2)), np.zeros((0, 2)))
    assert kp.shape == (0, 17, 2) and sc.shape == (0, 17) and kp.dtype == np.float32
    kp, sc = td.decode_topdown(np.zeros((2, 0, 8, 8)), np.ones((2, 2)), np.ones((2, 2)))
    assert kp.shape == (2, 0, 2) and sc.shape == (2, 0)


def test_batch_equals_single_crops():
    rng = np.random.default_rng(13)
    h, _ = gaussian_maps(rng, 9, 17, 32, 24)
    c, s = crops(rng, 9)
    for m in METHODS:
        kp, sc = td.decode_topdown(h, c, s, m)
        for n in range(9):
            kp1, sc1 = td.decode_topdown(h[n:n + 1], c[n:n + 1], s[n:n + 1], m)
            np.testing.assert_array_equal(kp1[0], kp[n])
            np.testing.assert_array_equal(sc1[0], sc[n])


def test_threads_and_emu_schedules_agree():
    rng = np.random.default_rng(14)
    h, _ = gaussian_maps(rng, 5, 17, 32, 24)
    c, s = crops(rng, 5)
    ref = td._reference_decode_topdown(h, c, s, "dark")
    for t in (1, 2, 3):
        assert_same(td.decode_topdown(h, c, s, "dark", threads=t), ref)
    prev = _C.emu_mode()
    try:
        for mode in ("shuffle", "threads"):
            _C.emu_set_mode(mode, 123, 3)
            for m in METHODS:
                assert_same(td.decode_topdown(h, c, s, m, backend="emu"), td._reference_decode_topdown(h, c, s, m))
        _C.emu_set_mode("block", 0, 4)  # one host thread per CUDA thread: small input
        hs, cs, ss = h[:2, :3, :16, :12], c[:2], s[:2]
        for m in METHODS:
            assert_same(td.decode_topdown(hs, cs, ss, m, backend="emu"), td._reference_decode_topdown(hs, cs, ss, m))
    finally:
        _C.emu_set_mode(prev, 0, 4)


def test_dtypes_strides_and_inputs_unchanged():
    rng = np.random.default_rng(15)
    h, _ = gaussian_maps(rng, 4, 6, 20, 16)
    c, s = crops(rng, 4)
    ref = td.decode_topdown(h, c, s)
    # float64 maps holding the same float32 values, non-contiguous views, a (N,) scale
    h64 = h.astype(np.float64)
    hv = np.ascontiguousarray(h.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not hv.flags.c_contiguous
    for hh in (h64, hv, h[:, :, :, :][::1]):
        before = np.array(hh, copy=True)
        assert_same(td.decode_topdown(hh, c, s), ref)
        np.testing.assert_array_equal(hh, before)
    assert_same(td.decode_topdown(h, c, s[:, 0]), ref)
    assert_same(td.decode_topdown(h, c.astype(np.float64), s), ref)  # float32-valued centres, float64 dtype
    # integer maps work too
    hi = (h * 100).astype(np.int32)
    assert_same(td.decode_topdown(hi, c, s, "quarter"), td.decode_topdown(hi.astype(np.float32), c, s, "quarter"))


def test_float64_scales_follow_reference_precision():
    """float64 scales: src_w = scale * 200 in float64 (as HRNet computes it for float64 input)."""
    rng = np.random.default_rng(16)
    h, _ = gaussian_maps(rng, 3, 4, 20, 16)
    c = rng.uniform(0, 500, (3, 2))
    s = rng.uniform(0.3, 3, (3, 2))
    assert_same(td.decode_topdown(h, c, s), td._reference_decode_topdown(h, c, s))


def test_concurrent_calls():
    """The native call releases the GIL; concurrent calls from Python threads give the same results."""
    rng = np.random.default_rng(17)
    h, _ = gaussian_maps(rng, 16, 17, 64, 48)
    c, s = crops(rng, 16)
    ref = td.decode_topdown(h, c, s)
    out, errs = [], []

    def work(backend):
        try:
            for _ in range(3):
                out.append(td.decode_topdown(h, c, s, backend=backend, threads=1))
        except Exception as e:  # noqa: BLE001
            errs.append(e)

    ts = [threading.Thread(target=work, args=(b,)) for b in ("cpu", "emu", "cpu", "emu")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errs
    for r in out:
        assert_same(r, ref)


finite_f32 = st.floats(-1e6, 1e6, width=32)
pixel = st.one_of(finite_f32, st.sampled_from([0.0, 1.0, np.nan, np.inf, -np.inf]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.data(),
       st.sampled_from(METHODS), st.sampled_from([1, 3, 5, 11]))
def test_property_cpu_emu_twin(N, K, H, W, data, method, k):
    vals = data.draw(st.lists(pixel, min_size=N * K * H * W, max_size=N * K * H * W))
    h = np.array(vals, np.float32).reshape(N, K, H, W)
    c = np.array(data.draw(st.lists(st.floats(-1e4, 1e4, width=32), min_size=2 * N, max_size=2 * N)),
                 np.float32).reshape(N, 2)
    s = np.array(data.draw(st.lists(st.floats(0.0009765625, 1024.0, width=32), min_size=2 * N, max_size=2 * N)),
                 np.float32).reshape(N, 2)
    before = h.copy()
    cpu = td.decode_topdown(h, c, s, method, k)
    assert np.all(np.isfinite(cpu[0])) and np.all(np.isfinite(cpu[1]))
    assert_same(cpu, td.decode_topdown(h, c, s, method, k, backend="emu"))
    assert_same(cpu, td._reference_decode_topdown(h, c, s, method, k))
    np.testing.assert_array_equal(h, before)


# ---- bad input ----------------------------------------------------------------------------------------

def _good(N=2):
    return np.ones((N, 3, 8, 8), np.float32), np.ones((N, 2), np.float32), np.ones((N, 2), np.float32)


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(centers=np.ones((3, 2))), ValueError, "centers"),
    (dict(scales=np.ones((3, 2))), ValueError, "scales"),
    (dict(scales=np.ones((2, 3))), ValueError, "scales"),
    (dict(centers=np.ones(2)), ValueError, "centers"),
    (dict(heatmaps=np.ones((3, 8, 8))), ValueError, "heatmaps"),
    (dict(heatmaps=np.ones((2, 3, 8, 8, 1))), ValueError, "heatmaps"),
    (dict(heatmaps=np.ones((2, 3, 0, 8))), ValueError, "heatmaps"),
    (dict(heatmaps="maps"), TypeError, "heatmaps"),
    (dict(heatmaps=None), TypeError, "heatmaps"),
    (dict(heatmaps=np.ones((2, 3, 8, 8), complex)), TypeError, "heatmaps"),
    (dict(centers=[["a", "b"], ["c", "d"]]), TypeError, "centers"),
    (dict(blur_kernel=4), ValueError, "blur_kernel"),
    (dict(blur_kernel=0), ValueError, "blur_kernel"),
    (dict(blur_kernel=-3), ValueError, "blur_kernel"),
    (dict(blur_kernel=11.0), TypeError, "blur_kernel"),
    (dict(blur_kernel=True), TypeError, "blur_kernel"),
    (dict(scales=np.zeros((2, 2))), ValueError, "scales"),
    (dict(scales=-np.ones((2, 2))), ValueError, "scales"),
    (dict(scales=np.array([[1.0, 1.0], [np.nan, 1.0]])), ValueError, "scales"),
    (dict(scales=np.array([[1.0, 1.0], [np.inf, 1.0]])), ValueError, "scales"),
    (dict(centers=np.array([[1.0, np.nan], [1.0, 1.0]])), ValueError, "centers"),
    (dict(method="taylor"), ValueError, "method"),
    (dict(method=2), TypeError, "method"),
    (dict(backend="gpu"), ValueError, "backend"),
    (dict(backend=1), TypeError, "backend"),
    (dict(threads=0), ValueError, "threads"),
    (dict(threads=1.5), TypeError, "threads"),
])
def test_bad_input(kwargs, exc, words):
    h, c, s = _good()
    args = dict(heatmaps=h, centers=c, scales=s)
    args.update(kwargs)
    with pytest.raises(exc, match=words):
        td.decode_topdown(**args)


def test_cuda_backend_unavailable_reason():
    why = hrdecode.cuda_unavailable_reason()
    if why is None:
        pytest.skip("a CUDA device answers")
    h, c, s = _good()
    with pytest.raises(RuntimeError, match="not usable") as e:
        td.decode_topdown(h, c, s, backend="cuda")
    assert why in str(e.value)


def test_native_binding_checks():
    """The binding's own checks (the Python layer normally guarantees these)."""
    h, c, _ = _good()
    w = np.ones(2)
    with pytest.raises(TypeError):
        _C.decode_topdown(h.astype(np.float64), c.astype(np.float64), w, 2, 11, 1, 0)
    with pytest.raises(ValueError):
        _C.decode_topdown(h, c.astype(np.float64), np.ones(3), 2, 11, 1, 0)
    with pytest.raises(ValueError):
        _C.decode_topdown(h, c.astype(np.float64), w, 2, 10, 1, 0)
    with pytest.raises(ValueError):
        _C.decode_topdown(h, c.astype(np.float64), w, 5, 11, 1, 0)


def test_exported():
    assert hrdecode.decode_topdown is td.decode_topdown
