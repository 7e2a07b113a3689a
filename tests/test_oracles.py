"""The reference-decoder oracles (tests/oracles.py) run and behave as documented.

Small handmade scenes: each keypoint is a Gaussian blob centred on an integer
pixel (so it is an exact, symmetric, tie-free peak) and each person's tag is a
constant inside a small disc around each of its keypoints.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import oracles

pytestmark = pytest.mark.oracle

K = 17
H, W = 48, 64  # non-square on purpose: catches x/y or H/W mix-ups
SIGMA = 1.5


@pytest.fixture(scope="module")
def mmpose():
    ok, reason = oracles.mmpose_available()
    if not ok:
        pytest.skip(reason)
    return oracles


@pytest.fixture(scope="module")
def omz():
    ok, reason = oracles.omz_available()
    if not ok:
        pytest.skip(reason)
    return oracles


def kp_xy(p: int, k: int) -> tuple[int, int]:
    """Integer location of person p's keypoint k (persons 12 px apart in x)."""
    return 6 + 12 * p + k % 3, 5 + 2 * k


def make_scene(vals, tags, offsets=None):
    """vals: (P,K) blob amplitudes (0 = no blob); tags: (P,) or (P,L).

    offsets: optional {(p, k): (dx, dy)} sub-pixel shift of a blob centre.
    Returns heatmaps (1,K,H,W), tags (1,K,H,W,L), both float32.
    """
    vals = np.asarray(vals, np.float32)
    tags = np.asarray(tags, np.float32).reshape(len(vals), -1)
    L = tags.shape[1]
    offsets = offsets or {}
    yy, xx = np.mgrid[0:H, 0:W]
    hm = np.zeros((1, K, H, W), np.float32)
    tg = np.zeros((1, K, H, W, L), np.float32)
    for p in range(len(vals)):
        for k in range(K):
            x, y = kp_xy(p, k)
            if vals[p, k] > 0:
                dx, dy = offsets.get((p, k), (0.0, 0.0))
                d2 = (xx - (x + dx)) ** 2 + (yy - (y + dy)) ** 2
                blob = (vals[p, k] * np.exp(-d2 / (2 * SIGMA**2))).astype(np.float32)
                hm[0, k] = np.maximum(hm[0, k], blob)
            tg[0, k][(xx - x) ** 2 + (yy - y) ** 2 <= 9] = tags[p]
    return hm, tg


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(str(a.shape).encode())
    return h.hexdigest()


def distinct_vals(P: int) -> np.ndarray:
    """(P,K) amplitudes with no exact ties (the references' top-k order of
    tied values is unspecified); person 0 is the strongest."""
    p, k = np.mgrid[0:P, 0:K]
    return (0.9 - 0.1 * p - 0.01 * k).astype(np.float32)


def expected_xy(p, shifted=0.5):
    return np.array([kp_xy(p, k) for k in range(K)], np.float32) + np.float32(shifted)


# ---------------------------------------------------------------------------
# mmpose
# ---------------------------------------------------------------------------


def test_mmpose_two_people(mmpose):
    vals = distinct_vals(2)  # person 0 has the stronger nose -> first group
    hm, tg = make_scene(vals, [1.0, 4.0], offsets={(1, 5): (0.3, -0.3)})
    (kp, ks, inst), = mmpose.mmpose_decode(hm, tg)
    assert kp.shape == (2, K, 2) and ks.shape == (2, K) and inst.shape == (2,)
    assert kp.dtype == ks.dtype == inst.dtype == np.float32
    exp0, exp1 = expected_xy(0), expected_xy(1)
    # the sub-pixel blob moves its keypoint a quarter pixel towards the centre
    exp1[5] += np.float32([0.25, -0.25])
    np.testing.assert_array_equal(kp[0], exp0)
    np.testing.assert_array_equal(kp[1], exp1)
    for p in range(2):
        xs, ys = zip(*(kp_xy(p, k) for k in range(K)))
        np.testing.assert_array_equal(ks[p], hm[0, np.arange(K), list(ys), list(xs)])
    np.testing.assert_allclose(inst, ks.mean(axis=1), rtol=1e-6)


def test_mmpose_center_shift_and_thresholds(mmpose):
    vals = distinct_vals(2)
    hm, tg = make_scene(vals, [1.0, 4.0])
    (kp, _, _), = mmpose.mmpose_decode(hm, tg, center_shift=0.0)
    np.testing.assert_array_equal(np.sort(kp[:, 0, 0]), [kp_xy(0, 0)[0], kp_xy(1, 0)[0]])
    # everything below keypoint_thr: no instance at all
    (kp, ks, inst), = mmpose.mmpose_decode(hm, tg, keypoint_thr=0.95)
    assert kp.shape == (0, K, 2) and ks.shape == (0, K) and inst.shape == (0,)


def test_mmpose_tag_dims_are_l_major(mmpose):
    # L=2: the persons differ mostly in the second tag dimension
    vals = distinct_vals(2)
    hm, tg = make_scene(vals, [[1.0, 0.0], [1.2, 3.0]])
    layout = oracles._tags_to_mmpose_layout(tg, hm.shape)
    assert layout.shape == (1, 2 * K, H, W)
    for l in range(2):
        for k in (0, 7, 16):
            np.testing.assert_array_equal(layout[:, l * K + k], tg[:, k, :, :, l])
    (kp, _, _), = mmpose.mmpose_decode(hm, tg)
    assert kp.shape == (2, K, 2)
    np.testing.assert_array_equal(kp[0], expected_xy(0))
    np.testing.assert_array_equal(kp[1], expected_xy(1))


def test_mmpose_truncates_to_max_instances(mmpose):
    P = 5
    p, k = np.mgrid[0:P, 0:K]
    vals = (0.3 + 0.05 * p + 0.002 * k).astype(np.float32)  # no ties, all < noses
    vals[:, 0] = [0.6, 0.9, 0.7, 0.95, 0.8]  # group creation order = nose value order
    hm, tg = make_scene(vals, [0.0, 3.0, 6.0, 9.0, 12.0])
    (kp, _, _), = mmpose.mmpose_decode(hm, tg, max_instances=None)
    assert kp.shape[0] == P
    (kp, ks, inst), = mmpose.mmpose_decode(hm, tg, max_instances=3)
    assert kp.shape == (3, K, 2) and ks.shape == (3, K) and inst.shape == (3,)
    for got, p in zip(kp, [3, 1, 4]):
        np.testing.assert_array_equal(got, expected_xy(p))


def order_sensitive_scene():
    """One person with only nose (tag 0), left hip 11 (tag 0.8), left shoulder 7
    (tag 1.3). COCO order (0, ..., 11, 12, 7, ...) lets the hip pull the group's
    mean tag to 0.4, so the shoulder (|1.3-0.4| < 1) joins: 1 instance. Natural
    order meets the shoulder first (|1.3-0| >= 1): a 2nd instance."""
    vals = np.zeros((1, K), np.float32)
    vals[0, [0, 7, 11]] = [0.9, 0.8, 0.7]
    hm, tg = make_scene(vals, [0.0])
    for k, t in ((7, 1.3), (11, 0.8)):
        x, y = kp_xy(0, k)
        tg[0, k, y - 3 : y + 4, x - 3 : x + 4] = t
    return hm, tg


def test_mmpose_keypoint_order(mmpose):
    hm, tg = order_sensitive_scene()
    (kp, _, _), = mmpose.mmpose_decode(hm, tg)  # default: COCO order for K=17
    assert kp.shape[0] == 1
    (kp, _, _), = mmpose.mmpose_decode(hm, tg, keypoint_order=oracles.COCO_KEYPOINT_ORDER)
    assert kp.shape[0] == 1
    (kp, _, _), = mmpose.mmpose_decode(hm, tg, keypoint_order=range(K))
    assert kp.shape[0] == 2
    with pytest.raises(ValueError):
        mmpose.mmpose_decode(hm, tg, keypoint_order=[0] * K)


def test_mmpose_fills_missing_keypoint_without_shift(mmpose):
    vals = distinct_vals(2)
    vals[0, 16] = 0.05  # below keypoint_thr: not grouped, found again by the fill step
    hm, tg = make_scene(vals, [1.0, 3.0])
    (kp, ks, inst), = mmpose.mmpose_decode(hm, tg)
    exp0 = expected_xy(0)
    exp0[16] = kp_xy(0, 16)  # filled keypoints get neither refinement nor centre shift
    np.testing.assert_array_equal(kp[0], exp0)
    assert ks[0, 16] == np.float32(0.05)
    # the instance score is taken before filling (the missing keypoint counts 0)
    np.testing.assert_allclose(inst[0], (ks[0].sum() - ks[0, 16]) / K, rtol=1e-6)
    # use_udp: mmpose log-blurs the heatmaps in place before the fill step, so the
    # filled score is log(0.05), not 0.05 (a reference quirk, reproduced as is)
    (kp, ks, _), = mmpose.mmpose_decode(hm, tg, use_udp=True)
    np.testing.assert_array_equal(kp[0, 16], kp_xy(0, 16))
    np.testing.assert_allclose(ks[0, 16], np.log(0.05), rtol=1e-5)


def test_mmpose_batch(mmpose):
    vals = distinct_vals(2)
    hm2, tg2 = make_scene(vals, [1.0, 4.0])
    hm1, tg1 = make_scene(vals[:1], [2.0])
    out = mmpose.mmpose_decode(np.concatenate([hm2, hm1]), np.concatenate([tg2, tg1]))
    assert [o[0].shape[0] for o in out] == [2, 1]
    np.testing.assert_array_equal(out[1][0][0], expected_xy(0))


@pytest.mark.parametrize("use_udp", [False, True])
def test_mmpose_does_not_modify_inputs(mmpose, use_udp):
    vals = distinct_vals(2)
    vals[0, 16] = 0.05
    hm, tg = make_scene(vals, [[1.0, 0.0], [3.0, 1.0]])
    before = digest(hm, tg)
    mmpose.mmpose_decode(hm, tg, use_udp=use_udp)
    mmpose.mmpose_decode(hm, tg[..., :1], use_udp=use_udp)
    assert digest(hm, tg) == before


# ---------------------------------------------------------------------------
# OMZ
# ---------------------------------------------------------------------------


def brute_signed(h, kernel=5):
    h = np.maximum(h, 0).astype(np.float32)
    out = np.empty_like(h)
    r = kernel // 2
    Kc, Hh, Ww = h.shape
    for k in range(Kc):
        for y in range(Hh):
            for x in range(Ww):
                m = h[k, max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].max()
                out[k, y, x] = h[k, y, x] if h[k, y, x] == m else -h[k, y, x]
    return out


def test_omz_signed_heatmaps():
    rng = np.random.default_rng(0)
    h = rng.normal(0.2, 0.3, size=(3, 11, 9)).astype(np.float32)
    h[1, 4:6, 4:6] = 2.0  # a plateau: every pixel of it is a peak
    h[2] = np.round(h[2], 1)  # many exact ties
    s = oracles.omz_signed_heatmaps(h)
    assert s.dtype == np.float32 and s.shape == h.shape
    np.testing.assert_array_equal(s, brute_signed(h))
    np.testing.assert_array_equal(np.abs(s), np.maximum(h, 0))
    assert (s[1, 4:6, 4:6] == 2.0).all()
    np.testing.assert_array_equal(oracles.omz_signed_heatmaps(h, kernel=3), brute_signed(h, 3))


def test_omz_two_people(omz):
    vals = distinct_vals(2)
    hm, tg = make_scene(vals, [1.0, 4.0], offsets={(1, 5): (0.3, -0.3)})
    signed = oracles.omz_signed_heatmaps(hm[0])[None]
    poses, scores = omz.omz_decode(signed, tg)
    assert poses.shape == (2, K, 4) and poses.dtype == np.float32 and scores.shape == (2,)
    exp1 = expected_xy(1)
    exp1[5] += np.float32([0.25, -0.25])
    np.testing.assert_array_equal(poses[0, :, :2], expected_xy(0))
    np.testing.assert_array_equal(poses[1, :, :2], exp1)
    np.testing.assert_array_equal(poses[:, :, 3], [[1.0] * K, [4.0] * K])
    np.testing.assert_allclose(scores, poses[:, :, 2].mean(axis=1), rtol=1e-6)
    # 4-D tags (the OMZ model's own `embeddings` layout) give the same result
    p4, s4 = omz.omz_decode(signed, tg[..., 0])
    np.testing.assert_array_equal(p4, poses)
    np.testing.assert_array_equal(s4, scores)


def test_omz_drops_poses_below_pose_threshold(omz):
    vals = distinct_vals(2)
    vals[1] = np.linspace(0.14, 0.16, K)  # above detection_threshold, mean below 0.2
    hm, tg = make_scene(vals, [1.0, 4.0])
    signed = oracles.omz_signed_heatmaps(hm[0])[None]
    poses, scores = omz.omz_decode(signed, tg, pose_threshold=0.1)
    assert len(scores) == 2
    poses, scores = omz.omz_decode(signed, tg, pose_threshold=0.2)
    assert poses.shape == (1, K, 4) and scores.shape == (1,)
    np.testing.assert_array_equal(poses[0, :, :2], expected_xy(0))
    poses, scores = omz.omz_decode(signed, tg, pose_threshold=0.9)
    assert poses.shape == (0, K, 4) and scores.shape == (0,)


def test_omz_uses_coco_order_for_17_joints(omz):
    hm, tg = order_sensitive_scene()
    poses, _ = omz.omz_decode(oracles.omz_signed_heatmaps(hm[0])[None], tg, pose_threshold=0.0)
    assert poses.shape[0] == 1


def test_omz_refine_fills_missing_keypoint(omz):
    vals = distinct_vals(2)
    vals[0, 16] = 0.05  # below detection_threshold
    hm, tg = make_scene(vals, [1.0, 3.0])
    signed = oracles.omz_signed_heatmaps(hm[0])[None]
    poses, scores = omz.omz_decode(signed, tg)
    # refine runs after delta: the filled keypoint sits on the integer pixel
    np.testing.assert_array_equal(poses[0, 16, :3], np.float32([*kp_xy(0, 16), 0.05]))
    np.testing.assert_allclose(scores[0], vals[0, :16].sum() / K, rtol=1e-6)
    # without refine the missing keypoint stays at (delta, delta) with score 0
    poses, _ = omz.omz_decode(signed, tg, refine=False)
    np.testing.assert_array_equal(poses[0, 16, :3], [0.5, 0.5, 0.0])


def test_omz_does_not_modify_inputs(omz):
    vals = distinct_vals(2)
    vals[0, 16] = 0.05
    hm, tg = make_scene(vals, [1.0, 3.0])
    signed = oracles.omz_signed_heatmaps(hm[0])[None]
    before = digest(signed, tg, hm)
    omz.omz_decode(signed, tg)
    omz.omz_decode(signed, tg[..., 0])
    assert digest(signed, tg, hm) == before
    assert (signed < 0).any()  # the decoder takes |h| in place -- on its own copy


def test_topk_has_ties():
    vals = np.full((2, K), 0.6, np.float32)
    hm, _ = make_scene(vals, [1.0, 3.0])
    # every channel holds two peaks of 0.6 -> ties among the candidates
    assert oracles.topk_has_ties(hm, topk=30, thr=0.1)
    vals[1] = np.linspace(0.3, 0.5, K)
    hm, _ = make_scene(vals, [1.0, 3.0])
    assert not oracles.topk_has_ties(hm, topk=30, thr=0.1)
    # ties that lie beyond the top-1 + cut-off neighbour do not count
    hm2 = hm.copy()
    hm2[0, 3, 40, 5] = hm2[0, 3, 44, 5] = 0.2
    assert not oracles.topk_has_ties(hm2, topk=1, thr=0.1)
    assert oracles.topk_has_ties(hm2, topk=3, thr=0.1)
