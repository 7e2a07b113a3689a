"""Native decoder == NumPy reference, exactly; edge cases; bad input; inputs never modified."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import hrdecode
from hrdecode import _C, _reference, synthetic

from oracles import omz_signed_heatmaps

PRESET_NAMES = ("higherhrnet", "mmpose", "omz")


SOLVER = _reference.default_solver()


def _maps_for(preset: str, heat: np.ndarray) -> np.ndarray:
    """The OMZ preset decodes the OMZ model's output: NMS inside, non-peaks negated."""
    return omz_signed_heatmaps(heat) if preset == "omz" else heat


def _decoder(backend: str, *args, **kw) -> hrdecode.Decoder:
    return hrdecode.Decoder(*args, backend=backend, **kw)


def assert_same(result: hrdecode.DecodeResult, ref: tuple) -> None:
    kp, sc = ref
    assert result.keypoints.dtype == np.float32 and result.scores.dtype == np.float32
    assert result.keypoints.shape == kp.shape, (result.keypoints.shape, kp.shape)
    np.testing.assert_array_equal(result.keypoints, kp)
    np.testing.assert_array_equal(result.scores, sc)


# ---------------------------------------------------------------------------------------------------------
# parity with the reference on generated scenes
# ---------------------------------------------------------------------------------------------------------

SCENES = [
    dict(height=96, width=128, num_people=4, seed=1),
    dict(height=128, width=128, num_people=8, seed=2, spurious_peaks=30),
    dict(height=128, width=96, num_people=12, seed=3, tag_dim=2),
    dict(height=112, width=144, num_people=6, seed=4, noise=0.05, tag_noise=0.3),
    dict(height=128, width=128, num_people=20, seed=5, person_height=(0.1, 0.3)),
    dict(height=64, width=80, num_people=3, seed=6, tag_dim=3, sigma=1.5),
    dict(height=128, width=128, num_people=10, seed=7, tag_spacing=1.0, tag_noise=0.4),  # ambiguous tags
    dict(height=96, width=96, num_people=5, seed=8, plateaus=6),
]


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("scene", SCENES, ids=[f"scene{i}" for i in range(len(SCENES))])
def test_native_equals_reference(preset, scene, backend):
    s = synthetic.make_scene(**scene)
    heat = _maps_for(preset, s.heatmaps)
    dec = _decoder(backend, preset)
    res = dec(heat, s.tags)
    assert_same(res, _reference.decode(heat, s.tags, dec.config, solver=SOLVER))
    if scene["num_people"] >= 4:
        assert res.num_people > 0


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("overrides", [
    dict(adjust=False),
    dict(refine=False),
    dict(use_detection_val=False),
    dict(ignore_too_much=True, max_people=6),
    dict(max_people=5),
    dict(dist_reweight=True),
    dict(dist_reweight=False),
    dict(pose_threshold=0.2),
    dict(delta=0.0),
    dict(nms_kernel=3, detection_threshold=0.2, tag_threshold=0.7),
    dict(solver="lsap"),
    dict(solver="munkres114"),
    dict(joint_order=tuple(reversed(range(17)))),
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())[:40])
def test_overrides_match_reference(preset, overrides, backend):
    s = synthetic.make_scene(height=96, width=112, num_people=9, seed=11, spurious_peaks=25)
    heat = _maps_for(preset, s.heatmaps)
    dec = _decoder(backend, preset, **overrides)
    assert_same(dec(heat, s.tags), _reference.decode(heat, s.tags, dec.config, solver=SOLVER))


def test_presets_differ_where_the_references_do():
    s = synthetic.make_scene(height=128, width=128, num_people=10, seed=21)
    hh = hrdecode.Decoder("higherhrnet")(s.heatmaps, s.tags)
    mm = hrdecode.Decoder("mmpose")(s.heatmaps, s.tags)
    # same grouping of detected joints, different refine rule: mmpose fills at integer pixels, always
    det = hh.keypoints[..., 2] > 0.1
    assert hh.keypoints.shape == mm.keypoints.shape
    filled_mm = mm.keypoints[~det]
    assert np.all(filled_mm[:, :2] == np.round(filled_mm[:, :2]))
    assert np.all(np.abs(hh.keypoints[det][:, :2] % 1 - 0.5) == 0.25)
    assert hrdecode.Decoder("omz").coordinate_offset == 0.5


def test_ground_truth_recovered(backend):
    """Decoding a clean scene finds every person at the right place (sub-pixel accuracy of the shift rule)."""
    s = synthetic.make_scene(height=128, width=128, num_people=5, seed=3, spurious_peaks=0, noise=0.0,
                             visibility=1.0)
    dec = _decoder(backend, "higherhrnet")
    r = dec(s.heatmaps, s.tags)
    assert r.num_people == s.joints.shape[0]
    for gt in s.joints:
        vis = gt[:, 2] > 0
        d = np.abs(r.keypoints[:, vis, :2] - dec.coordinate_offset - gt[None, vis, :2]).max(axis=(1, 2))
        assert d.min() <= 0.75 + 1e-6  # quarter-pixel rule: |error| <= 0.5 + 0.25


# ---------------------------------------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_zero_people_and_below_threshold(preset, backend):
    dec = _decoder(backend, preset)
    r = dec(np.zeros((17, 32, 40), np.float32), np.zeros((17, 32, 40), np.float32))
    assert r.keypoints.shape == (0, 17, 3) and r.scores.shape == (0,)
    r = dec(np.full((17, 32, 40), 0.05, np.float32), np.zeros((17, 32, 40)))
    assert r.num_people == 0


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_values_exactly_at_threshold(preset, backend):
    """Candidates need value > threshold, compared in double as the references do: float32(0.1) is
    0.10000000149 > 0.1 and counts; the float just below it does not."""
    h = np.zeros((1, 16, 16), np.float32)
    h[0, 4, 4] = np.float32(0.1)
    h[0, 10, 10] = np.nextafter(np.float32(0.1), np.float32(0))
    h[0, 4, 12] = np.float32(0.25)
    dec = _decoder(backend, preset, detection_threshold=0.1, refine=False, pose_threshold=None)
    r = dec(h, np.zeros((1, 16, 16), np.float32))
    found = sorted((float(x), float(y)) for x, y, _ in r.keypoints[:, 0])
    off = dec.coordinate_offset
    xs = [round(x - off) for x, _ in found]
    assert r.num_people == 2, r.keypoints
    assert sorted(xs) == [4, 12]
    # a threshold exactly at a float32 value excludes that value
    dec = _decoder(backend, preset, detection_threshold=0.25, refine=False, pose_threshold=None)
    assert dec(h, np.zeros((1, 16, 16), np.float32)).num_people == 0


def test_tag_threshold_strict(backend):
    """A joint joins a person only if the raw tag distance is strictly below tag_threshold."""
    h = np.zeros((2, 20, 20), np.float32)
    h[0, 5, 5] = 1.0
    h[1, 5, 7] = 0.9
    t = np.zeros((2, 20, 20), np.float32)
    t[1] = 1.0  # distance exactly 1.0 from person 0's tag 0.0
    r = _decoder(backend, "higherhrnet", refine=False, joint_order=(0, 1))(h, t)
    assert r.num_people == 2
    t[1] = np.nextafter(np.float32(1.0), np.float32(0))
    r = _decoder(backend, "higherhrnet", refine=False, joint_order=(0, 1))(h, t)
    assert r.num_people == 1


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_plateau_every_pixel_survives(preset, backend):
    """NMS uses exact equality: both pixels of a plateau are candidates (two people for one joint)."""
    h = np.zeros((1, 12, 12), np.float32)
    h[0, 6, 5] = h[0, 6, 6] = 0.7
    t = np.zeros((1, 12, 12), np.float32)
    t[0, 6, 6] = 3.0
    dec = _decoder(backend, preset, refine=False, pose_threshold=None, nms_kernel=5)
    r = dec(h, t)
    assert r.num_people == 2
    # top-k order: value desc, then flat index asc -> the left pixel creates the first person
    assert r.keypoints[0, 0, 0] < r.keypoints[1, 0, 0]


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("shape", [(1, 7, 9), (3, 2, 3), (2, 1, 1), (17, 5, 40), (4, 3, 3)])
@pytest.mark.parametrize("L", [1, 2, 4])
def test_small_odd_shapes(preset, shape, L, backend):
    rng = np.random.default_rng(sum(shape) * 10 + L)
    heat = rng.random(shape, dtype=np.float32)
    tags = rng.normal(size=shape + (L,)).astype(np.float32) * 2
    heat = _maps_for(preset, heat) if min(shape[1:]) >= 1 else heat
    dec = _decoder(backend, preset)
    r = dec(heat, tags)
    assert_same(r, _reference.decode(heat, tags, dec.config, solver=SOLVER))
    assert np.all(np.isfinite(r.keypoints))


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_batch_equals_single(preset, backend):
    scenes = [synthetic.make_scene(height=64, width=96, num_people=n, seed=30 + n) for n in (0, 3, 9, 1)]
    heat = np.stack([_maps_for(preset, s.heatmaps) for s in scenes])
    tags = np.stack([s.tags for s in scenes])
    dec = _decoder(backend, preset)
    batch = dec(heat, tags)
    assert isinstance(batch, list) and len(batch) == 4
    for i, r in enumerate(batch):
        single = dec(heat[i], tags[i])
        np.testing.assert_array_equal(r.keypoints, single.keypoints)
        np.testing.assert_array_equal(r.scores, single.scores)
    # tags without L dim in a batch
    b2 = dec(heat, tags[..., 0])
    for r, r2 in zip(batch, b2):
        np.testing.assert_array_equal(r.keypoints, r2.keypoints)
    assert dec(heat[:0], tags[:0]) == []


def test_threads_give_identical_results(backend):
    s = [synthetic.make_scene(height=96, width=96, num_people=8, seed=40 + i) for i in range(6)]
    heat = np.stack([x.heatmaps for x in s])
    tags = np.stack([x.tags for x in s])
    one = _decoder(backend, "higherhrnet", num_threads=1)(heat, tags)
    two = _decoder(backend, "higherhrnet", num_threads=2)(heat, tags)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_dtypes_and_strides(backend):
    s = synthetic.make_scene(height=64, width=80, num_people=5, seed=50, tag_dim=2)
    dec = _decoder(backend, "higherhrnet")
    base = dec(s.heatmaps, s.tags)
    # float64 input
    r = dec(s.heatmaps.astype(np.float64), s.tags.astype(np.float64))
    np.testing.assert_array_equal(r.keypoints, base.keypoints)
    # non-contiguous views (Fortran order, and an mmpose-style (L*K,H,W) channel layout viewed as K,H,W,L)
    r = dec(np.asfortranarray(s.heatmaps), np.asfortranarray(s.tags))
    np.testing.assert_array_equal(r.keypoints, base.keypoints)
    lk = np.ascontiguousarray(np.moveaxis(s.tags, 3, 0)).reshape(2 * 17, 64, 80)
    view = lk.reshape(2, 17, 64, 80).transpose(1, 2, 3, 0)
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(dec(s.heatmaps, view).keypoints, base.keypoints)
    # float16 converts (values change, decode still runs and is finite)
    r16 = dec(s.heatmaps.astype(np.float16), s.tags.astype(np.float16))
    assert np.all(np.isfinite(r16.keypoints))


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_inputs_never_modified(preset, backend):
    s = synthetic.make_scene(height=64, width=64, num_people=6, seed=60)
    heat = _maps_for(preset, s.heatmaps)
    h0, t0 = heat.copy(), s.tags.copy()
    _decoder(backend, preset)(heat, s.tags)
    np.testing.assert_array_equal(heat, h0)
    np.testing.assert_array_equal(s.tags, t0)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_nan_and_inf_never_become_keypoints(preset, backend):
    s = synthetic.make_scene(height=64, width=64, num_people=6, seed=61)
    heat = _maps_for(preset, s.heatmaps).copy()
    tags = s.tags.copy()
    rng = np.random.default_rng(0)
    idx = rng.integers(0, heat.size, 300)
    heat.reshape(-1)[idx[:100]] = np.nan
    heat.reshape(-1)[idx[100:150]] = np.inf
    heat.reshape(-1)[idx[150:200]] = -np.inf
    tags.reshape(-1)[idx[200:]] = np.nan
    dec = _decoder(backend, preset)
    r = dec(heat, tags)
    assert np.all(np.isfinite(r.keypoints))
    assert np.all(np.isfinite(r.scores))
    # all-NaN maps: no people, no crash
    r = dec(np.full((17, 16, 16), np.nan, np.float32), np.full((17, 16, 16), np.nan, np.float32))
    assert r.num_people == 0
    # all-NaN tags with real peaks: every peak starts its own person, all finite
    r = _decoder(backend, preset, pose_threshold=None)(heat, np.full_like(tags, np.nan))
    assert np.all(np.isfinite(r.keypoints)) and r.num_people > 0


# ---------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------

GOOD_H = np.zeros((17, 8, 8), np.float32)
GOOD_T = np.zeros((17, 8, 8), np.float32)


@pytest.mark.parametrize("heat,tags,exc,words", [
    (None, GOOD_T, TypeError, ["heatmaps", "None"]),
    (GOOD_H, None, TypeError, ["tags", "None"]),
    ("maps", GOOD_T, TypeError, ["heatmaps", "str"]),
    (np.array([["a"]]), GOOD_T, TypeError, ["heatmaps", "dtype"]),
    (GOOD_H.astype(np.complex64), GOOD_T, TypeError, ["heatmaps", "dtype"]),
    (np.zeros((8, 8), np.float32), GOOD_T, ValueError, ["heatmaps", "(8, 8)"]),
    (np.zeros((1, 1, 17, 8, 8), np.float32), GOOD_T, ValueError, ["heatmaps"]),
    (GOOD_H, np.zeros((16, 8, 8)), ValueError, ["tags", "(16, 8, 8"]),
    (GOOD_H, np.zeros((17, 8, 9)), ValueError, ["tags"]),
    (GOOD_H, np.zeros((17, 8, 8, 1, 1)), ValueError, ["tags"]),
    (np.zeros((17, 0, 8), np.float32), np.zeros((17, 0, 8)), ValueError, ["empty"]),
    (np.zeros((0, 8, 8), np.float32), np.zeros((0, 8, 8)), ValueError, ["empty"]),
    (GOOD_H, np.zeros((17, 8, 8, 0)), ValueError, ["empty"]),
    (np.zeros((2, 17, 8, 8), np.float32), np.zeros((3, 17, 8, 8)), ValueError, ["tags"]),
])
def test_bad_arrays(heat, tags, exc, words, backend):
    with pytest.raises(exc) as ei:
        _decoder(backend)(heat, tags)
    for w in words:
        assert w in str(ei.value), (w, str(ei.value))


@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(preset="openpose"), ValueError, ["preset", "openpose"]),
    (dict(preset=3), TypeError, ["preset"]),
    (dict(backend="tpu"), ValueError, ["backend", "tpu"]),
    (dict(nms_kernel=4), ValueError, ["nms_kernel", "4"]),
    (dict(nms_kernel=0), ValueError, ["nms_kernel"]),
    (dict(nms_kernel=5.0), TypeError, ["nms_kernel"]),
    (dict(max_people=-1), ValueError, ["max_people", "-1"]),
    (dict(max_people=0), ValueError, ["max_people"]),
    (dict(max_people=True), TypeError, ["max_people"]),
    (dict(detection_threshold=-0.1), ValueError, ["detection_threshold"]),
    (dict(detection_threshold=float("nan")), ValueError, ["detection_threshold", "nan"]),
    (dict(detection_threshold="0.1"), TypeError, ["detection_threshold"]),
    (dict(tag_threshold=float("inf")), ValueError, ["tag_threshold"]),
    (dict(adjust=1), TypeError, ["adjust", "bool"]),
    (dict(refine=None), TypeError, ["refine"]),
    (dict(delta=float("nan")), ValueError, ["delta"]),
    (dict(pose_threshold="x"), TypeError, ["pose_threshold"]),
    (dict(joint_order=(0, 1, 1)), ValueError, ["joint_order", "permutation"]),
    (dict(joint_order=(0, 1.5)), TypeError, ["joint_order"]),
    (dict(joint_order="012"), TypeError, ["joint_order"]),
    (dict(solver="hungarian"), ValueError, ["solver"]),
    (dict(colour="red"), TypeError, ["colour"]),
    (dict(num_threads=0), ValueError, ["num_threads"]),
])
def test_bad_overrides(kwargs, exc, words):
    with pytest.raises(exc) as ei:
        hrdecode.Decoder(**kwargs)
    for w in words:
        assert w in str(ei.value), (w, str(ei.value))


def test_joint_order_length_must_match_K(backend):
    dec = _decoder(backend, joint_order=(0, 1, 2))
    with pytest.raises(ValueError, match="joint_order"):
        dec(GOOD_H, GOOD_T)
    assert dec(GOOD_H[:3], GOOD_T[:3]).num_people == 0


def test_backends():
    h, t = np.zeros((17, 8, 8), np.float32), np.zeros((17, 8, 8), np.float32)
    for name in ("cpu", "emu", "auto"):
        dec = hrdecode.Decoder(backend=name)
        assert dec.backend == name
        dec(h, t)
        assert dec.last_backend == ("cpu" if name == "auto" else name)  # host arrays: auto is the CPU
    why = hrdecode.cuda_unavailable_reason()
    if why is not None:
        with pytest.raises(RuntimeError, match="backend='cuda' is not usable") as ei:
            hrdecode.Decoder(backend="cuda")
        assert why in str(ei.value)


def test_build_info():
    info = hrdecode.build_info()
    for key in ("version", "cuda_compiled", "cuda_available", "cuda_message", "compiler", "simd", "threads"):
        assert key in info
    assert info["version"] == hrdecode.__version__
    assert isinstance(info["cuda_compiled"], bool)
    if not info["cuda_available"]:
        assert info["cuda_message"]


# ---------------------------------------------------------------------------------------------------------
# the pieces: candidates (fused NMS + top-k) and the pruned refine search against their definitions
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("seed", range(6))
def test_candidates_equal_the_rule(kernel, seed):
    rng = np.random.default_rng(seed)
    H, W = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    h = rng.random((H, W), dtype=np.float32)
    h[rng.random((H, W)) < 0.2] = np.float32(0.5)  # plateaus and ties
    if seed % 2:
        h[rng.random((H, W)) < 0.05] = np.nan
        h[rng.random((H, W)) < 0.02] = np.inf
    for thr in (0.0, 0.1, 0.5, float(np.float32(0.5)), 0.9):
        for M in (0, 1, 5, 30, H * W + 3):
            v, i = _C.topk_candidates(h, kernel, thr, M)
            rv, ri = _reference.candidates(h, kernel, thr, M)
            np.testing.assert_array_equal(i, ri)
            np.testing.assert_array_equal(v, rv)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("seed", range(4))
def test_candidates_equal_the_rule_on_wide_maps(kernel, seed):
    """The CPU scan tests 16 pixels at a time against the threshold and the four direct neighbours of interior
    pixels four at a time. Widths around multiples of 4 and 16, maps smaller than the window, plateaus across
    vector lanes, NaN and +-inf next to peaks (they never suppress), values exactly at the threshold."""
    rng = np.random.default_rng(1000 + seed)
    shapes = [(1, 16), (2, 17), (max(kernel - 1, 1), 32), (3, 33), (5, 15), (40, 31), (24, 48), (33, 70), (9, 100)]
    for H, W in shapes:
        h = (rng.random((H, W)) ** 2).astype(np.float32)
        for _ in range(H):  # plateaus: runs of equal values along rows, crossing lane boundaries
            y, x = int(rng.integers(H)), int(rng.integers(W))
            h[y, x:x + int(rng.integers(2, 9))] = np.float32(rng.choice([0.5, 0.75, 1.0]))
        h[rng.random((H, W)) < 0.05] = np.float32(0.5)  # exactly at a threshold below
        if seed % 2:
            for v, share in ((np.nan, 0.04), (np.inf, 0.03), (-np.inf, 0.03)):
                h[rng.random((H, W)) < share] = v
        for thr in (0.0, 0.25, float(np.float32(0.5)), 0.9):
            for M in (5, H * W + 1):
                v, i = _C.topk_candidates(h, kernel, thr, M)
                rv, ri = _reference.candidates(h, kernel, thr, M)
                np.testing.assert_array_equal(i, ri)
                np.testing.assert_array_equal(v, rv)


def _check_pruned_refine(variant, heat, tags, p, tile, trial):
    """The pruned search equals the brute-force scan and the NumPy reference."""
    name = ["higherhrnet", "mmpose", "omz"][variant]
    heat_abs = variant == 2
    fast = _C.refine_search(variant, heat, tags, p, heat_abs, tile, False)
    brute = _C.refine_search(variant, heat, tags, p, heat_abs, tile, True)
    ref = _reference.refine_search(name, heat, tags, p, heat_abs)
    assert fast == brute, (trial, fast, brute)
    assert fast[0] == ref[0] and (fast[0] < 0 or fast[1] == np.float32(ref[1])), (trial, fast, ref)


@pytest.mark.parametrize("variant", [0, 1, 2])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("tile", [1, 3, 4, 8, 16, 64])
def test_pruned_refine_equals_brute_force(variant, L, tile):
    rng = np.random.default_rng(variant * 100 + L * 10 + tile)
    for trial in range(25):
        H, W = int(rng.integers(1, 50)), int(rng.integers(1, 50))
        heat = (rng.random((H, W)) * rng.choice([0.3, 1.0, 3.0])).astype(np.float32)
        if trial % 3 == 0:
            heat = np.round(heat * 4) / 4  # ties
        if variant == 2:
            heat = heat * rng.choice([-1, 1], size=heat.shape).astype(np.float32)
        tags = (rng.normal(size=(H, W, L)) * rng.choice([0.5, 2.0, 5.0])).astype(np.float32)
        if trial % 4 == 1:
            tags = np.round(tags * 2) / 2  # distances exactly at .5: half-even rounding
        if trial % 5 == 2:
            heat[rng.random((H, W)) < 0.1] = np.nan
            tags[rng.random((H, W, L)) < 0.1] = np.nan
        if trial % 7 == 3:
            heat[rng.random((H, W)) < 0.05] = rng.choice([np.inf, -np.inf])
            tags[rng.random((H, W, L)) < 0.05] = rng.choice([np.inf, -np.inf])
        p = (rng.normal(size=L) * 2).astype(np.float32)
        _check_pruned_refine(variant, heat, tags, p, tile, trial)


@pytest.mark.parametrize("variant", [0, 1, 2])
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("tile", [3, 4])
def test_pruned_refine_reaches_cold_tiles(variant, L, tile):
    """Only the hottest tiles are summarised in heat order; a search whose best score stays below them
    (the tags near the person's tag lie where the heat is low) reads the other ("cold") tiles itself.
    Pruned == brute force == NumPy reference there too, with NaN/inf pixels and ties."""
    rng = np.random.default_rng(500 + variant * 10 + L * 3 + tile)
    for trial in range(12):
        H, W = int(rng.integers(24, 90)), int(rng.integers(24, 90))
        heat = rng.random((H, W)).astype(np.float32)
        cold_cols = W - int(rng.integers(3, 12))
        heat[:, cold_cols:] *= np.float32(rng.choice([0.02, 0.1, 0.3]))
        if trial % 3 == 0:
            heat = np.round(heat * 64) / 64  # ties
        if variant == 2:
            heat = heat * rng.choice([-1, 1], size=heat.shape).astype(np.float32)
        ramp = np.linspace(0.0, 12.0, W, dtype=np.float32)[None, :, None]
        tags = (ramp + rng.normal(size=(H, W, L)) * 0.3).astype(np.float32)
        if trial % 4 == 1:
            heat[rng.random((H, W)) < 0.05] = np.nan
            tags[rng.random((H, W, L)) < 0.05] = rng.choice([np.nan, np.inf, -np.inf])
        p = np.full(L, 12.0 + rng.normal() * 0.5, np.float32)
        _check_pruned_refine(variant, heat, tags, p, tile, trial)


@pytest.mark.parametrize("variant", [0, 1, 2])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("tile", [3, 4])
def test_pruned_refine_many_searches_on_one_summary(variant, L, tile):
    """As in a decode, many searches share one joint's summary and fill its tag ranges as they need them: the
    hot tiles' ranges a prefix of their order at a time (searches that stop early fill little, a later one
    extends the prefix), the cold tiles' all at once by the first search that reaches them (except 4x4 tiles
    with L = 1) and the later ones reuse them. Every search still equals the brute-force scan, whichever
    searches ran before it."""
    name = ["higherhrnet", "mmpose", "omz"][variant]
    rng = np.random.default_rng(900 + variant * 10 + L * 3 + tile)
    for trial in range(6):
        H, W = int(rng.integers(24, 70)), int(rng.integers(24, 70))
        heat = rng.random((H, W)).astype(np.float32)
        heat[:, W - int(rng.integers(3, 12)):] *= np.float32(rng.choice([0.02, 0.1]))
        if variant == 2:
            heat = heat * rng.choice([-1, 1], size=heat.shape).astype(np.float32)
        ramp = np.linspace(0.0, 12.0, W, dtype=np.float32)[None, :, None]
        tags = (ramp + rng.normal(size=(H, W, L)) * 0.3).astype(np.float32)
        if trial % 2 == 1:
            tags[rng.random((H, W, L)) < 0.05] = rng.choice([np.nan, np.inf, -np.inf])
        # cold searches (tags at the cold right edge) and hot ones, interleaved
        ps = np.where(rng.random((16, 1)) < 0.5, 12.0, rng.random((16, 1)) * 8.0) + rng.normal(size=(16, L)) * 0.5
        ps = ps.astype(np.float32)
        heat_abs = variant == 2
        fast = _C.refine_search(variant, heat, tags, ps, heat_abs, tile, False)
        brute = _C.refine_search(variant, heat, tags, ps, heat_abs, tile, True)
        assert fast == brute, (trial, fast, brute)
        for p, hit in zip(ps, fast):
            ref = _reference.refine_search(name, heat, tags, p, heat_abs)
            assert hit[0] == ref[0] and (hit[0] < 0 or hit[1] == np.float32(ref[1])), (trial, hit, ref)


def test_refine_tile_size_does_not_change_results(backend):
    s = synthetic.make_scene(height=100, width=90, num_people=12, seed=70, tag_dim=2)
    base = _decoder(backend, "higherhrnet", refine_tile=8)(s.heatmaps, s.tags)
    for tile in (1, 5, 16, 33, 128):
        r = _decoder(backend, "higherhrnet", refine_tile=tile)(s.heatmaps, s.tags)
        np.testing.assert_array_equal(r.keypoints, base.keypoints)


def test_shared_decoder_from_many_threads(backend):
    """Python threads sharing one Decoder (the GIL is released in native code) get the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    scenes = [synthetic.make_scene(height=96, width=96, num_people=6, seed=80 + i) for i in range(8)]
    dec = _decoder(backend, "higherhrnet")
    serial = [dec(s.heatmaps, s.tags) for s in scenes]
    with ThreadPoolExecutor(max_workers=4) as ex:
        for _ in range(3):
            got = list(ex.map(lambda s: dec(s.heatmaps, s.tags), scenes))
            for a, b in zip(serial, got):
                np.testing.assert_array_equal(a.keypoints, b.keypoints)
                np.testing.assert_array_equal(a.scores, b.scores)


def test_one_decoder_per_thread_and_many_threads(backend):
    """Eight Python threads, each with its own Decoder, and all of them sharing one, interleaving batches
    and single images: every result equals the serial run."""
    from concurrent.futures import ThreadPoolExecutor

    scenes = [synthetic.make_scene(height=64, width=72, num_people=5, seed=90 + i, tag_dim=1 + i % 2)
              for i in range(8)]
    serial = [_decoder(backend, "higherhrnet")(s.heatmaps, s.tags) for s in scenes]
    shared = _decoder(backend, "higherhrnet")

    def work(i):
        own = _decoder(backend, "higherhrnet")
        s = scenes[i % 8]
        a = own(s.heatmaps, s.tags)
        b = shared(s.heatmaps[None], s.tags[None])[0]
        return i % 8, a, b

    with ThreadPoolExecutor(max_workers=8) as ex:
        for i, a, b in ex.map(work, range(32)):
            for r in (a, b):
                np.testing.assert_array_equal(r.keypoints, serial[i].keypoints)
                np.testing.assert_array_equal(r.scores, serial[i].scores)


@pytest.mark.parametrize("variant", [0, 1, 2])
@pytest.mark.parametrize("tag", [np.nan, np.inf, -np.inf, 3e38])
@pytest.mark.parametrize("heat", [0.5, -7.75e28, 3.2e35])
def test_refine_with_nonfinite_tags_matches_the_definition(variant, tag, heat):
    """A pixel whose tag is NaN or infinite is never a refine target in any variant (found by libFuzzer: the
    OMZ penalty once turned a NaN tag into a finite 2^31, which the pruned search skipped and the device
    search did not). Finite huge tags saturate and stay usable. Pruned == brute force == NumPy reference."""
    name = ["higherhrnet", "mmpose", "omz"][variant]
    for H, W in ((1, 1), (2, 3), (5, 4)):
        h = np.full((H, W), np.float32(heat))
        t = np.full((H, W, 1), np.float32(tag))
        t[-1, -1, 0] = 0.25 if H * W > 1 else t[-1, -1, 0]  # one ordinary pixel when there is room
        p = np.array([1e-31], np.float32)
        fast = _C.refine_search(variant, h, t, p, variant == 2, 4, False)
        brute = _C.refine_search(variant, h, t, p, variant == 2, 4, True)
        ref = _reference.refine_search(name, h, t, p, variant == 2)
        assert fast == brute, (fast, brute)
        assert fast[0] == ref[0], (fast, ref)
        if not np.isfinite(np.float32(tag)) and H * W == 1:
            assert fast[0] == -1


def test_fuzz_case_omz_nan_tags_equal_on_cpu_and_emu():
    h = np.array([[[3.24571676e35]], [[-7.75193175e28]]], np.float32)
    t = np.array([[[[1.07078696e-31, 3.12158841e35, np.nan]]], [[[np.nan, 0.0, -5.0]]]], np.float32)
    kw = dict(nms_kernel=1, max_people=3, adjust=False, ignore_too_much=True, joint_order=(0, 1))
    a = hrdecode.Decoder("omz", backend="cpu", **kw)(h, t)
    b = hrdecode.Decoder("omz", backend="emu", **kw)(h, t)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert a.keypoints[0, 1, 2] == 0  # the NaN-tag pixel of joint 1 is not used to fill it


# ---------------------------------------------------------------------------------------------------------
# the NMS row filter is built for SSE2 and AVX2 and picked at run time: both give the same results
# ---------------------------------------------------------------------------------------------------------

_SIMD_CHILD = r"""
import sys, numpy as np, hrdecode
from hrdecode import _C, synthetic
out = {"simd": np.array(hrdecode.build_info()["simd_runtime"])}
rng = np.random.default_rng(77)
for n, (H, W) in enumerate([(7, 16), (9, 31), (12, 32), (5, 47), (16, 48), (11, 64), (20, 80), (3, 100), (33, 129)]):
    h = (rng.random((H, W)) ** 3).astype(np.float32)
    h[rng.random((H, W)) < 0.05] = np.float32(0.5)
    for v, share in ((np.nan, 0.03), (np.inf, 0.02), (-np.inf, 0.02)):
        h[rng.random((H, W)) < share] = v
    for k in (1, 3, 5):
        v, i = _C.topk_candidates(h, k, 0.25, H * W + 1)
        out[f"c{n}_{k}_v"], out[f"c{n}_{k}_i"] = v, i
for n, (size, people) in enumerate([(64, 12), (96, 30), (80, 5)]):
    s = synthetic.make_scene(height=size, width=size + 16 * n, num_people=people, seed=n)
    for preset in ("higherhrnet", "mmpose", "omz", "accurate"):
        r = hrdecode.Decoder(preset, backend="cpu")(s.heatmaps, s.tags)
        out[f"d{n}_{preset}_kp"], out[f"d{n}_{preset}_sc"] = r.keypoints, r.scores
np.savez(sys.argv[1], **out)
"""


def test_sse2_and_avx2_builds_agree(tmp_path):
    """Candidates (threshold, NaN/inf, plateaus, widths around multiples of 16 and 32) and whole decodes (the
    row filter also folds the refine tiles' heat) are the same with the SSE2 and the AVX2 row filter."""
    script = tmp_path / "child.py"
    script.write_text(_SIMD_CHILD)
    runs = {}
    for simd in ("sse2", "native"):
        env = dict(os.environ, HRDECODE_SIMD=simd)
        path = tmp_path / f"{simd}.npz"
        subprocess.run([sys.executable, str(script), str(path)], env=env, check=True, timeout=600)
        runs[simd] = dict(np.load(path))
    assert str(runs["sse2"]["simd"]) != "AVX2"
    if str(runs["native"]["simd"]) != "AVX2":
        pytest.skip("this CPU has no AVX2: only the SSE2 build runs here")
    assert runs["sse2"].keys() == runs["native"].keys()
    for key, value in runs["native"].items():
        if key != "simd":
            np.testing.assert_array_equal(runs["sse2"][key], value, err_msg=key)
