"""Bottom-up DARK (the `dark` / `blur_kernel` options), OMZ's own-tag refine (`refine_own_tag`) and the
"accurate" preset: native == NumPy reference exactly on every backend, the sub-pixel accuracy the step
exists for, its fallbacks, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import hrdecode
from hrdecode import _reference, synthetic

from oracles import omz_signed_heatmaps

SOLVER = _reference.default_solver()


def _maps(preset: str, heat: np.ndarray) -> np.ndarray:
    return omz_signed_heatmaps(heat) if preset == "omz" else heat


def _assert_same(res: hrdecode.DecodeResult, ref: tuple) -> None:
    kp, sc = ref
    assert res.keypoints.shape == kp.shape
    np.testing.assert_array_equal(res.keypoints, kp)
    np.testing.assert_array_equal(res.scores, sc)


SCENES = [
    dict(height=96, width=112, num_people=8, seed=31, spurious_peaks=25),
    dict(height=80, width=64, num_people=6, seed=32, noise=0.06, tag_dim=2),
    dict(height=128, width=128, num_people=14, seed=33, sigma=3.0, person_height=(0.15, 0.4)),
]


@pytest.mark.parametrize("preset", ["higherhrnet", "mmpose", "omz", "accurate"])
@pytest.mark.parametrize("blur_kernel", [1, 3, 11, 31])
@pytest.mark.parametrize("scene", SCENES, ids=["spurious", "noisy-2d", "wide"])
def test_dark_equals_reference(preset, blur_kernel, scene, backend):
    """The native step (13 blurred values computed locally, only for the joints used on the CPU, for every
    candidate on the device) equals the reference, which blurs whole maps."""
    s = synthetic.make_scene(**scene)
    heat = _maps(preset, s.heatmaps)
    dec = hrdecode.Decoder(preset, backend=backend, dark=True, blur_kernel=blur_kernel)
    res = dec(heat, s.tags)
    _assert_same(res, _reference.decode(heat, s.tags, dec.config, solver=SOLVER))
    assert res.num_people > 0


@pytest.mark.parametrize("overrides", [
    dict(refine_own_tag=False), dict(dark=False), dict(adjust=False), dict(refine=False),
    dict(pose_threshold=0.1), dict(nms_kernel=3), dict(blur_kernel=7), dict(delta=0.5),
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_accurate_overrides_equal_reference(overrides, backend):
    s = synthetic.make_scene(height=96, width=96, num_people=10, seed=41, noise=0.04, spurious_peaks=30)
    dec = hrdecode.Decoder("accurate", backend=backend, **overrides)
    _assert_same(dec(s.heatmaps, s.tags), _reference.decode(s.heatmaps, s.tags, dec.config, solver=SOLVER))


def test_dark_without_adjust_on_higherhrnet(backend):
    """dark=True, adjust=False: DARK where it applies, no quarter shift elsewhere, +delta on every joint."""
    s = synthetic.make_scene(height=64, width=64, num_people=5, seed=42)
    dec = hrdecode.Decoder("higherhrnet", backend=backend, dark=True, adjust=False, refine=False)
    assert dec.coordinate_offset == 0.5
    res = dec(s.heatmaps, s.tags)
    _assert_same(res, _reference.decode(s.heatmaps, s.tags, dec.config, solver=SOLVER))


def _one_peak(cx: float, cy: float, H: int = 48, W: int = 48, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)).astype(np.float32)


@pytest.mark.parametrize("blur_kernel", [1, 5, 11])
def test_dark_recovers_subpixel_centres(blur_kernel, backend):
    """One Gaussian peak per joint at a known sub-pixel centre: DARK lands within 0.02 px (log of a blurred
    Gaussian is an exact quadratic), the quarter-pixel rule is off by up to 0.25 px."""
    rng = np.random.default_rng(5)
    K = 17
    centres = rng.uniform(10, 38, size=(K, 2))
    heat = np.stack([_one_peak(cx, cy) for cx, cy in centres])
    tags = np.zeros((K, 48, 48), np.float32)
    dark = hrdecode.Decoder("accurate", backend=backend, blur_kernel=blur_kernel)(heat, tags)
    quarter = hrdecode.Decoder("accurate", backend=backend, dark=False)(heat, tags)
    assert dark.num_people == 1 and quarter.num_people == 1
    err_dark = np.abs(dark.keypoints[0, :, :2] - centres)
    err_quarter = np.abs(quarter.keypoints[0, :, :2] - centres)
    assert err_dark.max() < 0.02, err_dark.max()
    assert err_quarter.max() > 0.1
    assert err_dark.mean() < err_quarter.mean() / 5


def test_dark_falls_back_to_adjust_near_the_border(backend):
    """Within 2 px of the border the Taylor step does not apply: the preset's adjust shift stays."""
    heat = np.zeros((2, 32, 32), np.float32)
    heat[0] = _one_peak(1.3, 20.2, 32, 32)          # peak at x = 1: too close to the border
    heat[1] = _one_peak(15.3, 15.6, 32, 32)
    tags = np.zeros((2, 32, 32), np.float32)
    for preset in ("higherhrnet", "accurate"):
        on = hrdecode.Decoder(preset, backend=backend, dark=True, joint_order=(0, 1))(heat, tags)
        off = hrdecode.Decoder(preset, backend=backend, dark=False, joint_order=(0, 1))(heat, tags)
        assert on.num_people == off.num_people == 1
        np.testing.assert_array_equal(on.keypoints[0, 0], off.keypoints[0, 0])
        off_px = on.keypoints[0, 1, :2] - np.float32(hrdecode.Decoder(preset).coordinate_offset)
        assert np.abs(off_px - [15.3, 15.6]).max() < 0.02


def test_dark_moves_joints_at_most_one_pixel_and_keeps_the_people(backend):
    """With OMZ grouping (the accurate preset) DARK changes coordinates only: same people, same scores, and
    each joint within 1 px of its pixel, so within 1.25 px of the quarter-pixel answer."""
    s = synthetic.make_scene(height=96, width=96, num_people=12, seed=43, noise=0.08, spurious_peaks=60)
    on = hrdecode.Decoder("accurate", backend=backend)(s.heatmaps, s.tags)
    off = hrdecode.Decoder("accurate", backend=backend, dark=False)(s.heatmaps, s.tags)
    assert on.keypoints.shape == off.keypoints.shape and on.num_people > 12
    np.testing.assert_array_equal(on.scores, off.scores)
    np.testing.assert_array_equal(on.keypoints[..., 2], off.keypoints[..., 2])
    d = np.abs(on.keypoints[..., :2] - off.keypoints[..., :2])
    assert d.max() <= 1.25
    moved = d[on.keypoints[..., 2] > 0]
    # many joints took the DARK step (the rest: fallbacks, mostly refined joints of spurious people on noise)
    assert np.mean((moved != 0) & (moved != 0.25) & (moved != 0.5)) > 0.3


def test_dark_with_nonfinite_maps_stays_finite(backend):
    s = synthetic.make_scene(height=64, width=64, num_people=6, seed=44)
    heat = s.heatmaps.copy()
    heat[:, ::7, ::5] = np.nan
    heat[3, 10:20, 10:20] = np.inf
    heat[4, 30:40, 30:40] = -np.inf
    for preset in ("higherhrnet", "accurate"):
        dec = hrdecode.Decoder(preset, backend=backend, dark=True)
        res = dec(heat, s.tags)
        assert np.all(np.isfinite(res.keypoints)) and np.all(np.isfinite(res.scores))
        _assert_same(res, _reference.decode(heat, s.tags, dec.config, solver=SOLVER))


def test_accurate_preset_definition():
    dec = hrdecode.Decoder("accurate")
    c = dec.config
    assert dec.coordinate_offset == 0.0
    assert c.dark and c.blur_kernel == 11 and c.dist_reweight and c.refine_own_tag and c.nms_kernel == 5
    assert not c.heat_abs and c.pose_threshold is None
    assert not hrdecode.Decoder("omz").config.refine_own_tag  # the reference keeps model_api's pairing


def test_own_tag_changes_refine_only_when_the_pose_filter_drops_someone(backend):
    """refine_own_tag matters exactly when a person before a kept one is filtered out (model_api's index
    shift); with no pose threshold both pairings are the same."""
    s = synthetic.make_scene(height=96, width=96, num_people=10, seed=45, spurious_peaks=40)
    a = hrdecode.Decoder("accurate", backend=backend)(s.heatmaps, s.tags)
    b = hrdecode.Decoder("accurate", backend=backend, refine_own_tag=False)(s.heatmaps, s.tags)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    a = hrdecode.Decoder("accurate", backend=backend, pose_threshold=0.1)(s.heatmaps, s.tags)
    b = hrdecode.Decoder("accurate", backend=backend, pose_threshold=0.1, refine_own_tag=False)(s.heatmaps, s.tags)
    assert a.keypoints.shape == b.keypoints.shape
    assert not np.array_equal(a.keypoints, b.keypoints)


def test_accurate_batch_threads_and_inputs_untouched(backend):
    scenes = [synthetic.make_scene(height=64, width=72, num_people=5, seed=50 + i) for i in range(4)]
    heat = np.stack([s.heatmaps for s in scenes])
    tags = np.stack([s.tags for s in scenes])
    h0, t0 = heat.copy(), tags.copy()
    batch = hrdecode.Decoder("accurate", backend=backend, num_threads=2)(heat, tags)
    for i, s in enumerate(scenes):
        one = hrdecode.Decoder("accurate", backend=backend, num_threads=1)(s.heatmaps, s.tags)
        np.testing.assert_array_equal(batch[i].keypoints, one.keypoints)
        np.testing.assert_array_equal(batch[i].scores, one.scores)
    np.testing.assert_array_equal(heat, h0)
    np.testing.assert_array_equal(tags, t0)


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(blur_kernel=4), ValueError, ["blur_kernel", "4"]),
    (dict(blur_kernel=0), ValueError, ["blur_kernel"]),
    (dict(blur_kernel=33), ValueError, ["blur_kernel", "33"]),
    (dict(blur_kernel=11.0), TypeError, ["blur_kernel"]),
    (dict(dark=1), TypeError, ["dark", "bool"]),
    (dict(refine_own_tag="yes"), TypeError, ["refine_own_tag"]),
])
def test_bad_dark_overrides(kwargs, exc, words):
    with pytest.raises(exc) as ei:
        hrdecode.Decoder("accurate", **kwargs)
    for w in words:
        assert w in str(ei.value)


# ---------------------------------------------------------------------------------------------------------
# mmpose use_udp (the real codec comparison is in test_reference_parity.py)
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("blur_kernel", [None, 1, 5, 11])
@pytest.mark.parametrize("scene", SCENES, ids=["spurious", "noisy-2d", "wide"])
def test_udp_equals_reference(blur_kernel, scene, backend):
    """Native (whole log maps: row pass, column pass, maxima, log; Taylor step; fill search on the log maps)
    == the NumPy reference, bit for bit."""
    s = synthetic.make_scene(**scene)
    dec = hrdecode.Decoder("mmpose", backend=backend, use_udp=True, blur_kernel=blur_kernel)
    res = dec(s.heatmaps, s.tags)
    _assert_same(res, _reference.decode(s.heatmaps, s.tags, dec.config, solver=SOLVER))
    assert res.num_people > 0
    # filled joints score a log value of the clipped map: within [log(1e-3), log(50)]
    v = res.keypoints[..., 2]
    assert np.all((v >= np.log(np.float32(1e-3)) - 1e-6) & (v <= np.log(50.0) + 1e-6))
    assert (v < 0).any()


def test_udp_log_maps_equal_opencv_blur():
    """The blur of the log maps is cv2.GaussianBlur's, bit for bit, for the codec's 3x3 kernel."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    heat = (rng.random((3, 40, 37)) * rng.choice([1e-3, 1.0, 30.0], size=(3, 40, 37))).astype(np.float32)
    logs = _reference.udp_log_maps(heat, 3)
    for k in range(3):
        dr = np.zeros((42, 39), np.float32)
        dr[1:-1, 1:-1] = heat[k]
        b = cv2.GaussianBlur(dr, (3, 3), 0)[1:-1, 1:-1]
        b = b * (heat[k].max() / b.max())
        want = np.log(np.clip(b, 1e-3, 50.0).astype(np.float64)).astype(np.float32)
        np.testing.assert_array_equal(logs[k], want)


@pytest.mark.parametrize("mode", ["shuffle", "threads", "block"])
def test_udp_emu_schedules_equal_cpu(mode):
    from hrdecode import _C

    scenes = [synthetic.make_scene(height=40, width=48, num_people=5, seed=60 + i, tag_dim=2) for i in range(3)]
    heat = np.stack([s.heatmaps for s in scenes])
    tags = np.stack([s.tags for s in scenes])
    cpu = hrdecode.Decoder("mmpose", backend="cpu", use_udp=True)(heat, tags)
    try:
        _C.emu_set_mode(mode, 5, 3)
        emu = hrdecode.Decoder("mmpose", backend="emu", use_udp=True, device_candidates=3)(heat, tags)
    finally:
        _C.emu_set_mode("serial", 0, 4)
    for a, b in zip(cpu, emu):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.scores, b.scores)
    assert sum(r.num_people for r in cpu) > 0


def test_udp_nonfinite_and_degenerate_maps(backend):
    """NaN/inf pixels read as 0 in the blur; an all-zero map (blurred maximum 0) keeps the factor at 1; a flat
    log map around a joint (Hessian eps * I) gives no shift. Always finite, always the reference's answer."""
    s = synthetic.make_scene(height=48, width=48, num_people=4, seed=61)
    heat = s.heatmaps.copy()
    heat[:, ::5, ::3] = np.nan
    heat[2] = np.inf
    heat[5] = 0.0
    dec = hrdecode.Decoder("mmpose", backend=backend, use_udp=True)
    res = dec(heat, s.tags)
    assert np.all(np.isfinite(res.keypoints)) and np.all(np.isfinite(res.scores))
    _assert_same(res, _reference.decode(heat, s.tags, dec.config, solver=SOLVER))
    one = np.zeros((1, 16, 16), np.float32)
    one[0, 8, 8] = 1.0  # a single-pixel peak: after the 3x3 blur its log map is symmetric, so no shift
    r = hrdecode.Decoder("mmpose", backend=backend, use_udp=True, joint_order=(0,))(one, np.zeros((1, 16, 16)))
    assert r.num_people == 1
    np.testing.assert_array_equal(r.keypoints[0, 0], [8.5, 8.5, 1.0])


@pytest.mark.parametrize("kwargs,words", [
    (dict(preset="higherhrnet", use_udp=True), ["use_udp", "mmpose"]),
    (dict(preset="accurate", use_udp=True), ["use_udp", "mmpose"]),
    (dict(preset="mmpose", use_udp=True, dark=True), ["use_udp", "dark"]),
    (dict(preset="mmpose", use_udp=True, heat_abs=True), ["use_udp", "heat_abs"]),
    (dict(preset="mmpose", use_udp=True, blur_kernel=2), ["blur_kernel", "2"]),
])
def test_bad_udp_overrides(kwargs, words):
    with pytest.raises(ValueError) as ei:
        hrdecode.Decoder(**kwargs)
    for w in words:
        assert w in str(ei.value)
    with pytest.raises(TypeError, match="use_udp"):
        hrdecode.Decoder("mmpose", use_udp="yes")
