"""The device path (csrc/*/*.cu, decode_device.cu) run as the emu backend: identical to the CPU backend under
every emulator schedule, including the overflow path of the top-k, plus the device-array interface and the
CUDA error reporting that can be exercised without a GPU."""
from __future__ import annotations

import re

import numpy as np
import pytest

import hrdecode
from hrdecode import _C, _device, synthetic

from oracles import omz_signed_heatmaps

PRESETS = ("higherhrnet", "mmpose", "omz", "accurate")


def _maps(preset: str, heat: np.ndarray) -> np.ndarray:
    return omz_signed_heatmaps(heat) if preset == "omz" else heat


def _same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.keypoints, y.keypoints)
        np.testing.assert_array_equal(x.scores, y.scores)


@pytest.fixture
def emu_mode():
    """Set an emulator schedule for one test, then restore serial."""
    yield lambda mode, seed=0, workers=3: _C.emu_set_mode(mode, seed, workers)
    _C.emu_set_mode("serial", 0, 4)


def _batch(preset: str, n: int, size: int = 64, people: int = 6, seed: int = 0, **kw):
    scenes = [synthetic.make_scene(height=size, width=size + 8, num_people=people, seed=seed + i, **kw)
              for i in range(n)]
    return np.stack([_maps(preset, s.heatmaps) for s in scenes]), np.stack([s.tags for s in scenes])


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("mode", ["serial", "shuffle", "threads", "block"])
def test_emu_schedules_equal_cpu(preset, mode, emu_mode):
    """Whatever order the emulated CUDA threads run in (atomic slot order changes under shuffle/threads),
    the results are the CPU backend's, bit for bit."""
    heat, tags = _batch(preset, 3, size=48, people=5, seed=10, tag_dim=2)
    cpu = hrdecode.Decoder(preset, backend="cpu")(heat, tags)
    emu_mode(mode, seed=7)
    assert _C.emu_mode() == mode
    got = hrdecode.Decoder(preset, backend="emu")(heat, tags)
    _same(cpu, got)
    assert sum(r.num_people for r in cpu) > 0


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("capacity", [1, 4, 29, 31])
def test_topk_overflow_rounds_equal_cpu(preset, capacity):
    """With fewer compaction slots than NMS survivors, maps take the exact selection-round path; results
    do not change (capacity below and above max_people=30; noisy maps with many survivors)."""
    heat, tags = _batch(preset, 2, size=40, people=8, seed=20, noise=0.08, spurious_peaks=60)
    cpu = hrdecode.Decoder(preset, backend="cpu")(heat, tags)
    got = hrdecode.Decoder(preset, backend="emu", device_candidates=capacity)(heat, tags)
    _same(cpu, got)


def test_overflow_with_ties_and_plateaus():
    """Every pixel of a constant map is a candidate (exact-equality NMS), all tied: the top-k order (value
    desc, index asc) must come out of the selection rounds exactly."""
    h = np.full((2, 9, 11), 0.5, np.float32)
    h[1, 3:6, 2:9] = 0.75
    t = np.arange(2 * 9 * 11, dtype=np.float32).reshape(2, 9, 11) * 0.01
    for C in (1, 7, 2000):
        for preset in ("higherhrnet", "mmpose"):
            kw = dict(max_people=12, refine=False, pose_threshold=None)
            a = hrdecode.Decoder(preset, backend="cpu", **kw)(h, t)
            b = hrdecode.Decoder(preset, backend="emu", device_candidates=C, **kw)(h, t)
            _same([a], [b])
            assert a.num_people > 0


@pytest.mark.parametrize("preset", PRESETS)
def test_crowded_frame_equals_cpu(preset):
    s = synthetic.make_scene(height=128, width=128, num_people=30, seed=5)
    heat = _maps(preset, s.heatmaps)
    a = hrdecode.Decoder(preset, backend="cpu")(heat, s.tags)
    b = hrdecode.Decoder(preset, backend="emu")(heat, s.tags)
    _same([a], [b])
    assert b.timings["refine_searches"] > 0


def test_nonfinite_maps_on_emu():
    s = synthetic.make_scene(height=48, width=48, num_people=5, seed=3)
    heat, tags = s.heatmaps.copy(), s.tags.copy()
    rng = np.random.default_rng(1)
    heat.reshape(-1)[rng.integers(0, heat.size, 200)] = np.nan
    heat.reshape(-1)[rng.integers(0, heat.size, 50)] = np.inf
    tags.reshape(-1)[rng.integers(0, tags.size, 200)] = -np.inf
    for preset in PRESETS:
        a = hrdecode.Decoder(preset, backend="cpu")(heat, tags)
        b = hrdecode.Decoder(preset, backend="emu")(heat, tags)
        _same([a], [b])
        assert np.all(np.isfinite(b.keypoints))


# ---------------------------------------------------------------------------------------------------------
# CUDA host code and device arrays, as far as they run without a GPU
# ---------------------------------------------------------------------------------------------------------

needs_no_device = pytest.mark.skipif(hrdecode.cuda_unavailable_reason() is None, reason="a CUDA device answers")


@needs_no_device
def test_cuda_errors_name_the_call():
    """The real CUDA host path on this machine: the first CUDA call fails and says which and why."""
    if not _C.build["cuda_compiled"]:
        with pytest.raises(RuntimeError, match="no CUDA backend"):
            _C.decode(np.zeros((1, 2, 4, 4), np.float32), np.zeros((1, 2, 4, 4, 1), np.float32),
                      hrdecode.Decoder(joint_order=(0, 1))._native_params(2), 1, 2)
        return
    dec = hrdecode.Decoder(joint_order=(0, 1))
    with pytest.raises(RuntimeError) as ei:
        _C.decode(np.zeros((1, 2, 4, 4), np.float32), np.zeros((1, 2, 4, 4, 1), np.float32),
                  dec._native_params(2), 1, 2)
    msg = str(ei.value)
    # "CUDA error <cudaError name> (<description>) in <CUDA call> (<what it was for>)"
    assert re.fullmatch(r"CUDA error cudaError\w+ \(.+\) in cuda\w+ \(.+\)", msg), msg


class FakeCAI:
    """An object exposing __cuda_array_interface__ (as CuPy/Numba/torch do) over memory we own."""

    def __init__(self, arr: np.ndarray, typestr: str = "<f4", strides=None, device: int = 0, host=None):
        self._arr = arr
        self.__cuda_array_interface__ = {"shape": arr.shape, "typestr": typestr, "data": (arr.ctypes.data, False),
                                         "strides": strides, "version": 3}
        self.device = type("Dev", (), {"index": device})()
        if host is not None:
            self.get = lambda: host


def test_device_array_parsing():
    a = np.zeros((17, 8, 8), np.float32)
    d = _device.as_device_array("heatmaps", FakeCAI(a))
    assert d.ptr == a.ctypes.data and d.shape == (17, 8, 8) and d.device == 0
    assert _device.as_device_array("heatmaps", a) is None
    # C-contiguous explicit strides are fine; size-1 dimensions may carry any stride
    assert _device.as_device_array("x", FakeCAI(a, strides=(256, 32, 4))) is not None
    b = np.zeros((1, 8, 8), np.float32)
    assert _device.as_device_array("x", FakeCAI(b, strides=(999, 32, 4))) is not None


@pytest.mark.parametrize("kw,exc,words", [
    (dict(typestr="<f2"), TypeError, ["heatmaps", "float32", "<f2"]),
    (dict(typestr="<f8"), TypeError, ["heatmaps", "float32"]),
    (dict(strides=(4, 68, 544)), ValueError, ["heatmaps", "C-contiguous", "strides"]),
])
def test_bad_device_arrays(kw, exc, words):
    with pytest.raises(exc) as ei:
        _device.as_device_array("heatmaps", FakeCAI(np.zeros((17, 8, 8), np.float32), **kw))
    for w in words:
        assert w in str(ei.value), (w, str(ei.value))


def test_zero_size_device_array():
    with pytest.raises(ValueError, match="non-empty"):
        _device.as_device_array("tags", FakeCAI(np.zeros((17, 0, 8), np.float32)))


def test_device_and_host_mixed_or_mismatched():
    h = np.zeros((17, 8, 8), np.float32)
    with pytest.raises(ValueError, match="same device"):
        hrdecode.Decoder()(FakeCAI(h), h)
    with pytest.raises(ValueError, match="cuda:0.*cuda:1"):
        hrdecode.Decoder()(FakeCAI(h, device=0), FakeCAI(h, device=1))


@needs_no_device
def test_auto_without_device_falls_back_through_the_framework():
    s = synthetic.make_scene(height=48, width=48, num_people=4, seed=9)
    want = hrdecode.Decoder("higherhrnet", backend="cpu")(s.heatmaps, s.tags)
    dec = hrdecode.Decoder("higherhrnet", backend="auto")
    got = dec(FakeCAI(s.heatmaps, host=s.heatmaps), FakeCAI(s.tags, host=s.tags))
    assert dec.last_backend == "cpu"
    _same([want], [got])
    # no way to the host: a TypeError that says why
    with pytest.raises(TypeError, match="not usable here"):
        dec(FakeCAI(s.heatmaps), FakeCAI(s.tags))


def test_dlpack_capsule_reader():
    a = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    info = _C.dlpack_info(a.__dlpack__())
    assert info["ptr"] == a.ctypes.data
    assert info["shape"] == [2, 3, 4]
    assert info["strides"] in (None, [12, 4, 1])
    assert (info["code"], info["bits"], info["lanes"]) == (2, 32, 1)
    assert info["device_type"] == 1
    v = a[:, 1:, ::2]
    info = _C.dlpack_info(v.__dlpack__())
    assert info["ptr"] == v.ctypes.data and info["strides"] == [12, 4, 2]
    # a consumed (or foreign) capsule is refused by name, never dereferenced
    import ctypes

    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    cap = new(ctypes.c_void_p(8), _USED_NAME, None)
    with pytest.raises(TypeError, match="unconsumed DLPack capsule"):
        _C.dlpack_info(cap)
    with pytest.raises(TypeError):
        _C.dlpack_info(a)


_USED_NAME = b"used_dltensor"  # capsule names must outlive their capsules


def test_dlpack_host_arrays_decode_on_cpu():
    """Objects that only speak DLPack on the CPU (numpy here) go through the host path unchanged."""
    class DLOnly:
        def __init__(self, arr):
            self._a = arr

        def __dlpack__(self, stream=None):
            return self._a.__dlpack__()

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

        def __array__(self, dtype=None, copy=None):
            return self._a

    s = synthetic.make_scene(height=40, width=40, num_people=3, seed=2)
    assert _device.as_device_array("heatmaps", DLOnly(s.heatmaps)) is None
    want = hrdecode.Decoder()(s.heatmaps, s.tags)
    _same([want], [hrdecode.Decoder()(DLOnly(s.heatmaps), DLOnly(s.tags))])


def test_dlpack_non_cuda_device_rejected():
    class OnVulkan:
        def __dlpack__(self, stream=None):
            raise AssertionError("not called")

        def __dlpack_device__(self):
            return (7, 0)

    with pytest.raises(TypeError, match="Vulkan"):
        hrdecode.Decoder()(OnVulkan(), OnVulkan())


@pytest.mark.parametrize("stream,ok", [(None, True), (0, True), (12345, True), (-1, False), ("s", False),
                                       (1.5, False), (True, False)])
def test_stream_argument(stream, ok):
    h = np.zeros((17, 8, 8), np.float32)
    dec = hrdecode.Decoder()
    if ok:
        assert dec(h, h, stream=stream).num_people == 0
    else:
        with pytest.raises(TypeError, match="stream"):
            dec(h, h, stream=stream)


def test_build_info_lists_emu():
    info = hrdecode.build_info()
    assert "emu" in info["backends"] and "cpu" in info["backends"]
    assert ("cuda" in info["backends"]) == (hrdecode.cuda_unavailable_reason() is None)
    with pytest.raises(ValueError, match="mode"):
        _C.emu_set_mode("warp")


def test_torch_cpu_tensors_decode_on_the_host():
    """Real framework objects: torch CPU tensors (which refuse __cuda_array_interface__ and report a CPU
    DLPack device) are read as host arrays, with the same results as NumPy input, on every backend."""
    torch = pytest.importorskip("torch")
    s = synthetic.make_scene(height=48, width=56, num_people=4, seed=12)
    h, t = torch.from_numpy(s.heatmaps.copy()), torch.from_numpy(s.tags.copy())
    h0, t0 = h.clone(), t.clone()
    assert _device.as_device_array("heatmaps", h) is None
    for backend in ("cpu", "emu", "auto"):
        want = hrdecode.Decoder(backend=backend)(s.heatmaps, s.tags)
        dec = hrdecode.Decoder(backend=backend)
        got = dec(h, t)
        _same([want], [got])
        assert dec.last_backend in ("cpu", "emu")
    assert torch.equal(h, h0) and torch.equal(t, t0)  # inputs unchanged
