"""Property-based tests (hypothesis) over the public API.

For any valid input (shapes from 1x1 up, huge K, L up to 4, non-square, batches; float and integer dtypes;
C, Fortran and strided layouts; NaN, +-inf, denormals, constant maps, exact ties, values exactly at the
thresholds) and any valid overrides, a decode:
  * returns finite keypoints and scores, with coordinates inside the documented box
    [min(0, delta) - 0.25, (W - 1) + max(0, delta) + 0.25] (same for y with H);
  * gives bit-identical results on the cpu and emu backends;
  * leaves the inputs unchanged.
Any invalid input raises TypeError or ValueError, never anything else.
"""
from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import hrdecode  # noqa: E402

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

F32 = np.float32
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1.17e-38, 0.1, float(F32(0.1)),
           float(np.nextafter(F32(0.1), F32(0))), float(np.nextafter(F32(0.1), F32(1))), 0.5, 1.0, 3.0e38]


@st.composite
def maps(draw):
    """(heatmaps, tags, description): a random valid input of any supported layout."""
    K = draw(st.one_of(st.integers(1, 20), st.sampled_from([64, 150])))
    H = draw(st.integers(1, 20 if K <= 20 else 6))
    W = draw(st.integers(1, 20 if K <= 20 else 6))
    L = draw(st.integers(1, 4))
    N = draw(st.sampled_from([None, 1, 2, 3]))
    shape = (K, H, W) if N is None else (N, K, H, W)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["uniform", "ties", "constant", "special", "sparse", "large"]))
    if kind == "uniform":
        h = rng.random(shape)
    elif kind == "ties":
        h = rng.integers(0, 4, shape) / 4.0
    elif kind == "constant":
        h = np.full(shape, draw(st.sampled_from(SPECIAL)))
    elif kind == "special":
        h = rng.choice(np.array(SPECIAL), size=shape)
    elif kind == "sparse":
        h = np.where(rng.random(shape) < 0.05, rng.random(shape), 0.0)
    else:
        h = rng.normal(size=shape) * 1e30
    tag_kind = draw(st.sampled_from(["normal", "ties", "special", "people"]))
    tshape = shape + ((L,) if (L > 1 or draw(st.booleans())) else ())
    if tag_kind == "normal":
        t = rng.normal(size=tshape) * 3
    elif tag_kind == "ties":
        t = rng.integers(-2, 3, tshape) / 2.0  # distances exactly at .5: half-even rounding
    elif tag_kind == "special":
        t = rng.choice(np.array(SPECIAL + [-1.0, 2.0]), size=tshape)
    else:
        t = rng.integers(0, 5, tshape) * 2.0  # well-separated people
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8]))
    with np.errstate(all="ignore"):
        if np.issubdtype(dtype, np.integer):
            h = np.nan_to_num(h * 10, nan=0, posinf=100, neginf=0).clip(0, 200).astype(dtype)
            t = np.nan_to_num(t, nan=0, posinf=100, neginf=-100).clip(-100, 100).astype(np.int32)
        else:
            h, t = h.astype(dtype), t.astype(dtype)
    layout = draw(st.sampled_from(["c", "fortran", "strided"]))
    if layout == "fortran":
        h, t = np.asfortranarray(h), np.asfortranarray(t)
    elif layout == "strided":
        big_h = np.zeros(tuple(2 * n for n in h.shape), h.dtype)
        big_h[tuple(slice(None, None, 2) for _ in h.shape)] = h
        h = big_h[tuple(slice(None, None, 2) for _ in h.shape)]
        t = t[..., ::-1] if t.ndim > len(shape) else t
    return h, t, f"{kind}/{tag_kind}/{np.dtype(dtype).name}/{layout} K={K} H={H} W={W} L={L} N={N}"


@st.composite
def overrides(draw):
    preset = draw(st.sampled_from(["higherhrnet", "mmpose", "omz", "accurate"]))
    o = {}
    if draw(st.booleans()):
        o["max_people"] = draw(st.integers(1, 40))
    if draw(st.booleans()):
        o["detection_threshold"] = draw(st.sampled_from([0.0, 0.1, float(F32(0.1)), 0.25, 0.5, 1.0]))
    if draw(st.booleans()):
        o["nms_kernel"] = draw(st.sampled_from([1, 3, 5, 7]))
    if draw(st.booleans()):
        o["blur_kernel"] = draw(st.sampled_from([1, 3, 11, 31]))
    for name in ("adjust", "refine", "use_detection_val", "ignore_too_much", "dist_reweight", "dark",
                 "refine_own_tag"):
        if draw(st.booleans()):
            o[name] = draw(st.booleans())
    if draw(st.booleans()):
        o["tag_threshold"] = draw(st.sampled_from([0.0, 0.5, 1.0, 1e9]))
    if draw(st.booleans()):
        o["delta"] = draw(st.sampled_from([0.0, 0.5, -1.0, 2.0]))
    if draw(st.booleans()):
        o["pose_threshold"] = draw(st.sampled_from([None, 0.0, 0.1, -1.0]))
    if draw(st.booleans()):
        o["solver"] = draw(st.sampled_from(["munkres114", "lsap"]))
    if draw(st.booleans()):
        o["device_candidates"] = draw(st.sampled_from([1, 5, 1024]))
    if preset == "mmpose" and not o.get("dark", False) and draw(st.booleans()):
        o["use_udp"] = True
    return preset, o


def _results(r):
    return r if isinstance(r, list) else [r]


@SETTINGS
@given(maps(), overrides())
def test_any_valid_input_decodes_to_finite_in_map_keypoints_identically_on_cpu_and_emu(inp, ov):
    h, t, what = inp
    preset, o = ov
    h0, t0 = h.copy(), t.copy()
    cpu = _results(hrdecode.Decoder(preset, backend="cpu", **o)(h, t))
    emu = _results(hrdecode.Decoder(preset, backend="emu", **o)(h, t))
    # inputs unchanged (NaN positions included)
    assert np.array_equal(h, h0, equal_nan=h.dtype.kind == "f") and np.array_equal(t, t0, equal_nan=t.dtype.kind == "f")
    H, W = h.shape[-2:]
    delta = float(np.float32(o.get("delta", 0.5)))
    # the quarter shift moves at most 0.25 px, DARK stays inside, DARK-UDP ends at most 1 px outside the map
    reach = 1.0 if o.get("use_udp") else 0.25
    lo = min(0.0, delta) - reach
    for a, b in zip(cpu, emu):
        np.testing.assert_array_equal(a.keypoints, b.keypoints, err_msg=what)
        np.testing.assert_array_equal(a.scores, b.scores, err_msg=what)
        kp = a.keypoints
        assert np.all(np.isfinite(kp)), what
        # A person score is the mean of its joints' values: finite unless that sum overflows float32
        # (values near 3e38, documented), as in the references.
        finite_h = np.asarray(h, np.float64)[np.isfinite(np.asarray(h, np.float64))]
        if finite_h.size == 0 or np.abs(finite_h).max() < 1e36:
            assert np.all(np.isfinite(a.scores)), what
        assert np.all((kp[..., 0] >= lo) & (kp[..., 0] <= (W - 1) + max(0.0, delta) + reach)), (what, kp[..., 0])
        assert np.all((kp[..., 1] >= lo) & (kp[..., 1] <= (H - 1) + max(0.0, delta) + reach)), (what, kp[..., 1])
        if preset == "mmpose":
            assert a.num_people <= o.get("max_people", 30)


BAD_VALUES = [None, "x", b"x", 3, 2.5, [[1, 2], [3]], np.zeros((2, 2), complex), np.array([["a"]]),
              np.zeros((2, 3), object), np.zeros(()), np.zeros((5,)), np.zeros((1, 1, 1, 1, 1, 1)),
              np.zeros((0, 4, 4)), np.zeros((3, 0, 4)), np.zeros((3, 4, 4, 0))]


@SETTINGS
@given(st.sampled_from(BAD_VALUES + ["good"]), st.sampled_from(BAD_VALUES + ["good", "mismatch"]),
       st.sampled_from(["cpu", "emu"]))
def test_invalid_input_raises_type_or_value_error(heat, tags, backend):
    good = np.zeros((3, 4, 4), np.float32)
    heat = good if isinstance(heat, str) and heat == "good" else heat
    if isinstance(tags, str) and tags == "good":
        tags = good
    elif isinstance(tags, str) and tags == "mismatch":
        tags = np.zeros((3, 4, 5), np.float32)
    if heat is good and tags is good:
        return
    with pytest.raises((TypeError, ValueError)):
        hrdecode.Decoder(backend=backend, joint_order=(0, 1, 2))(heat, tags)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["max_people", "detection_threshold", "tag_threshold", "nms_kernel",
                                        "adjust", "refine", "delta", "pose_threshold", "joint_order",
                                        "num_threads", "refine_tile", "device_candidates", "solver", "bogus"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                                 st.text(max_size=3), st.lists(st.integers(-1, 3), max_size=4)),
                       max_size=3))
def test_any_override_is_accepted_or_rejected_cleanly(o):
    try:
        dec = hrdecode.Decoder("higherhrnet", **o)
    except (TypeError, ValueError):
        return
    r = dec(np.random.default_rng(0).random((17, 9, 9)).astype(np.float32), np.zeros((17, 9, 9), np.float32)) \
        if dec.config.joint_order is None or len(dec.config.joint_order) == 17 else None
    if r is not None:
        assert np.all(np.isfinite(r.keypoints))


def test_munkres_cannot_solve_huge_costs_but_lsap_can():
    from hrdecode import _C

    cost = -np.abs(np.random.default_rng(3).normal(size=(4, 4))) * 1e29
    with pytest.raises(ValueError, match="refused"):
        _C.munkres114(cost)
    assert sorted(_C.lsap(cost)) == [0, 1, 2, 3]


@pytest.mark.parametrize("backend", ["cpu", "emu"])
def test_huge_heat_values_finish_with_the_lsap_fallback(backend):
    """Heat values near 1e29 give costs munkres 1.1.4 cannot solve (the Python package loops forever once
    they pass 2^63); hrdecode solves that step with LSAP instead and returns finite keypoints."""
    rng = np.random.default_rng(3)
    h = np.zeros((3, 1, 12), np.float32)
    h[:, 0, ::2] = np.abs(rng.normal(size=(3, 6))).astype(np.float32) * 1e29
    t = rng.normal(size=(3, 1, 12)).astype(np.float32)
    for preset in ("higherhrnet", "mmpose", "omz"):
        r = hrdecode.Decoder(preset, backend=backend, solver="munkres114", joint_order=(0, 1, 2),
                             nms_kernel=1, heat_abs=False, pose_threshold=None)(h, t)
        assert r.num_people >= 6 and np.all(np.isfinite(r.keypoints))
