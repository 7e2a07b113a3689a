"""The public decoder: presets, argument checks, and the call into the native core.

Dimension letters used throughout hrdecode:

- N: batch size
- K: joints (keypoint types)
- H, W: heatmap height and width
- L: tag (embedding) length per joint
- M: candidates per joint (``max_people``)
- P: people found
"""
from __future__ import annotations

import math
import numbers
import os
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _C, _device

__all__ = ["Decoder", "DecodeConfig", "DecodeResult", "PRESETS", "COCO_JOINT_ORDER", "default_joint_order",
           "cuda_unavailable_reason"]

#: HigherHRNet's grouping order for the 17 COCO joints: head, shoulders, hips, elbows, wrists, knees, ankles.
COCO_JOINT_ORDER: Tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)

_VARIANTS = {"higherhrnet": 0, "mmpose": 1, "omz": 2}
_SOLVERS = {"munkres114": 0, "lsap": 1}


@dataclass(frozen=True)
class DecodeConfig:
    """Every knob of a decode. Presets are instances of this; overrides replace fields.

    Attributes:
        variant: which reference's rules the decode follows: "higherhrnet", "mmpose" or "omz".
        solver: Hungarian solver, "munkres114" (munkres 1.1.4 tie order) or "lsap" (scipy's).
        max_people: candidates kept per joint (top-k). Also, per reference: HigherHRNet matches a joint only
            against the first ``max_people`` people; mmpose returns at most ``max_people`` people; OMZ's
            ``ignore_too_much`` counts against it.
        detection_threshold: a candidate needs a heat value strictly greater than this (>= 0).
        tag_threshold: a candidate joins a person only if the raw tag distance is strictly below this.
        nms_kernel: odd window size of the peak test; 1 means the maps are already suppressed (OMZ models).
        use_detection_val: matching cost ``round(dist) * 100 - value`` instead of ``dist``.
        ignore_too_much: skip a joint type once ``max_people`` people exist.
        adjust: quarter-pixel shift of detected joints towards the higher neighbour.
        refine: search the maps for the missing joints of every person.
        dist_reweight: OMZ's reweighting of tag distances by distance to the person's centre.
        refine_own_tag: OMZ rules: refine each kept person with its own running-mean tag. False
            reproduces model_api, which pairs the j-th kept pose with the tag of the j-th pose before the
            pose-threshold filter (the ``omz`` preset).
        dark: DARK sub-pixel step (Taylor expansion of the log of the Gaussian-blurred map) for every
            detected and refined joint, replacing the quarter-pixel adjust where it applies (a maximum
            within one pixel, at least two pixels from the border); elsewhere the adjust rule stays.
        blur_kernel: odd size (1..31) of the Gaussian blur of ``dark`` and ``use_udp``, OpenCV's sigma for
            that size (11: sigma 2, the training sigma of HigherHRNet's maps; tie it to the heatmap sigma).
            None: 11 for ``dark``, 3 for ``use_udp`` (mmpose's ``decode_gaussian_kernel``).
        use_udp: mmpose rules only: the codec's ``use_udp=True`` decoding. Detected joints get its DARK-UDP
            step (blur, rescale to the map maximum, clip to [1e-3, 50], log, Taylor step with edge padding)
            instead of the quarter-pixel shift, and missing joints are filled from those log maps (as the
            codec does: its blur modifies the heatmaps in place), so filled joints score their log value.
        delta: offset added to adjusted joint coordinates (0.5: pixel-centre coordinates).
        pose_threshold: keep only people whose score is greater than this (None: keep all).
        joint_order: grouping order of the joints (None: COCO order for K == 17, else 0..K-1).
        heat_abs: the maps are signed, NMS'ed OMZ outputs; decode their absolute value.
        refine_tile: tile size of the pruned refine search (speed only; results do not depend on it).
        num_threads: threads for a batch (None: all hardware threads, or HRDECODE_NUM_THREADS).
        device_candidates: emu/cuda backends: NMS survivors kept per map before the top-k; a map with more
            takes an exact slower path (speed only; results do not depend on it).
    """

    variant: str = "higherhrnet"
    solver: str = "munkres114"
    max_people: int = 30
    detection_threshold: float = 0.1
    tag_threshold: float = 1.0
    nms_kernel: int = 5
    use_detection_val: bool = True
    ignore_too_much: bool = False
    adjust: bool = True
    refine: bool = True
    dist_reweight: bool = False
    refine_own_tag: bool = True
    dark: bool = False
    blur_kernel: Optional[int] = None
    use_udp: bool = False
    delta: float = 0.5
    pose_threshold: Optional[float] = None
    joint_order: Optional[Tuple[int, ...]] = None
    heat_abs: bool = False
    refine_tile: int = 4
    num_threads: Optional[int] = None
    device_candidates: int = 1024


def blur_taps(cfg: DecodeConfig) -> int:
    """The blur kernel size a config decodes with: ``blur_kernel``, or 11 for ``dark`` and 3 for ``use_udp``
    when it is None."""
    if cfg.blur_kernel is not None:
        return int(cfg.blur_kernel)
    return 3 if cfg.use_udp else 11


#: The presets. Each reproduces one reference decoder (see README, "Presets").
PRESETS: Dict[str, DecodeConfig] = {
    # HigherHRNet lib/core/group.py HeatmapParser.parse with the w32_512 test settings.
    "higherhrnet": DecodeConfig(),
    # mmpose 1.x AssociativeEmbedding codec as configured for ae_hrnet-w32 (topk 30, max instances 30,
    # centre shift 0.5), decoding at heatmap scale.
    "mmpose": DecodeConfig(variant="mmpose"),
    # Open Model Zoo AssociativeEmbeddingDecoder as HpeAssociativeEmbedding builds it, with the OMZ demo's
    # higherhrnet settings (delta 0.5, pose threshold 0.1); input maps are the OMZ model's signed NMS output.
    "omz": DecodeConfig(variant="omz", solver="lsap", nms_kernel=1, dist_reweight=True, pose_threshold=0.1,
                        heat_abs=True, refine_own_tag=False),
    # hrdecode's most accurate combination on the synthetic benchmark (bench/accuracy.py --ablation): OMZ's
    # grouping (distance-reweighted tags, running-mean person tags, scipy's solver) on plain heatmaps with a
    # 5x5 NMS, no pose threshold, each person refined with its own tag, and DARK (blur 11, for sigma-2 maps)
    # on every detected and refined joint. Pixel-index coordinates.
    "accurate": DecodeConfig(variant="omz", solver="lsap", nms_kernel=5, dist_reweight=True, pose_threshold=None,
                             heat_abs=False, refine_own_tag=True, dark=True, blur_kernel=11, delta=0.0),
}

_OVERRIDABLE = tuple(f.name for f in fields(DecodeConfig) if f.name != "variant")


def default_joint_order(variant: str, K: int) -> Tuple[int, ...]:
    """Grouping order used when ``joint_order`` is None: HigherHRNet's COCO order for K == 17 (and its first
    K entries when they form a permutation, as HigherHRNet's CrowdPose configs use for K == 14); 0..K-1
    otherwise."""
    if K == 17:
        return COCO_JOINT_ORDER
    if variant == "higherhrnet" and K < 17 and sorted(COCO_JOINT_ORDER[:K]) == list(range(K)):
        return COCO_JOINT_ORDER[:K]
    return tuple(range(K))


@dataclass
class DecodeResult:
    """People found in one image.

    Attributes:
        keypoints: (P, K, 3) float32: x, y (x = column, in heatmap pixels, plus ``coordinate_offset`` for
            adjusted joints), score. A joint that was neither detected nor refined has score 0.
        scores: (P,) float32, one score per person (mean of the detected joints' values, before refine).
        timings: per-stage milliseconds of the native decode (candidates, group, adjust, refine, total).
            On the CPU backend without DARK, candidates and group overlap: the grouping starts with the
            first joint's candidates while other threads find the rest, so the two can sum to more than
            the time they took together.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    timings: Dict[str, float] = field(default_factory=dict)

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])

    def __repr__(self) -> str:
        return f"DecodeResult(people={self.num_people}, joints={self.keypoints.shape[1]})"


def _type_name(v: Any) -> str:
    return type(v).__name__


def _check_bool(name: str, v: Any) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {v!r} ({_type_name(v)})")
    return bool(v)


def _check_int(name: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {v!r} ({_type_name(v)})")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{name}: expected an int in [{lo}, {hi}], got {int(v)}")
    return int(v)


def _check_real(name: str, v: Any, lo: float = -math.inf, lo_open: bool = False) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {v!r} ({_type_name(v)})")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{name}: expected a finite number, got {f}")
    if f < lo or (lo_open and f == lo):
        raise ValueError(f"{name}: expected a number {'>' if lo_open else '>='} {lo}, got {f}")
    return f


def _validate(cfg: DecodeConfig) -> DecodeConfig:
    if cfg.variant not in _VARIANTS:
        raise ValueError(f"variant: expected one of {sorted(_VARIANTS)}, got {cfg.variant!r}")
    if cfg.solver not in _SOLVERS:
        raise ValueError(f"solver: expected one of {sorted(_SOLVERS)}, got {cfg.solver!r}")
    _check_int("max_people", cfg.max_people, 1, 100_000)
    _check_real("detection_threshold", cfg.detection_threshold, 0.0)
    _check_real("tag_threshold", cfg.tag_threshold, 0.0)
    k = _check_int("nms_kernel", cfg.nms_kernel, 1, 999)
    if k % 2 == 0:
        raise ValueError(f"nms_kernel: expected an odd window size (1, 3, 5, ...), got {k}")
    for name in ("use_detection_val", "ignore_too_much", "adjust", "refine", "dist_reweight", "refine_own_tag", "dark",
                 "heat_abs", "use_udp"):
        _check_bool(name, getattr(cfg, name))
    if cfg.blur_kernel is not None:
        b = _check_int("blur_kernel", cfg.blur_kernel, 1, 31)
        if b % 2 == 0:
            raise ValueError(f"blur_kernel: expected an odd kernel size (1, 3, ..., 31), got {b}")
    if cfg.use_udp:
        if cfg.variant != "mmpose":
            raise ValueError(f"use_udp: mmpose's DARK-UDP decoding needs the mmpose rules (preset 'mmpose'), "
                             f"got variant {cfg.variant!r}")
        if cfg.dark:
            raise ValueError("use_udp: expected dark=False (use_udp is mmpose's own DARK variant), got dark=True")
        if cfg.heat_abs:
            raise ValueError("use_udp: expected heat_abs=False (the codec decodes plain maps), got heat_abs=True")
    _check_real("delta", cfg.delta)
    if cfg.pose_threshold is not None:
        _check_real("pose_threshold", cfg.pose_threshold)
    _check_int("refine_tile", cfg.refine_tile, 1, 4096)
    _check_int("device_candidates", cfg.device_candidates, 1, 1 << 24)
    if cfg.num_threads is not None:
        _check_int("num_threads", cfg.num_threads, 1, 1024)
    if cfg.joint_order is not None:
        jo = cfg.joint_order
        if isinstance(jo, (str, bytes)) or not isinstance(jo, (Sequence, np.ndarray)):
            raise TypeError(f"joint_order: expected a sequence of ints, got {_type_name(jo)}")
        out = []
        for i, j in enumerate(jo):
            if isinstance(j, (bool, np.bool_)) or not isinstance(j, numbers.Integral):
                raise TypeError(f"joint_order[{i}]: expected an int, got {j!r} ({_type_name(j)})")
            out.append(int(j))
        if sorted(out) != list(range(len(out))):
            raise ValueError(f"joint_order: expected a permutation of 0..{len(out) - 1}, got {tuple(out)}")
        cfg = replace(cfg, joint_order=tuple(out))
    return cfg


def _as_maps(name: str, a: Any) -> np.ndarray:
    """Any real array-like -> ndarray (no copy unless needed). Rejects None, strings, objects, complex."""
    if a is None:
        raise TypeError(f"{name}: expected a numeric array, got None")
    if isinstance(a, (str, bytes)):
        raise TypeError(f"{name}: expected a numeric array, got {_type_name(a)}")
    try:
        arr = np.asarray(a)
    except Exception as e:  # e.g. a torch CUDA tensor, ragged lists
        raise TypeError(f"{name}: expected a numeric array, got {_type_name(a)} ({e})") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real numbers (float or int dtype), got dtype {arr.dtype}")
    return arr


_BACKEND_CODES = {"cpu": 0, "emu": 1, "cuda": 2}


def cuda_unavailable_reason() -> Optional[str]:
    """None if the CUDA backend can run here, else why not (not compiled, no driver, driver too old, no
    device, or HRDECODE_FORCE_CPU set)."""
    if not _C.build.get("cuda_compiled"):
        return "this build has no CUDA backend (built with HRDECODE_CUDA=OFF or without nvcc)"
    if os.environ.get("HRDECODE_FORCE_CPU", "") not in ("", "0"):
        return "HRDECODE_FORCE_CPU is set"
    st = _C.cuda_status()
    return None if st["usable"] else str(st["message"])


def _batch_shape(hs: Tuple[int, ...], ts: Tuple[int, ...]) -> Tuple[int, int, int, int, int, bool]:
    """(N, K, H, W, L, single) from heatmaps shape (K,H,W)|(N,K,H,W) and tags shape (...[, L]), or a
    ValueError naming the argument."""
    hs, ts = tuple(int(n) for n in hs), tuple(int(n) for n in ts)
    if len(hs) not in (3, 4):
        raise ValueError(f"heatmaps: expected shape (K, H, W) or (N, K, H, W), got {hs}")
    single = len(hs) == 3
    if single:
        if len(ts) not in (3, 4):
            raise ValueError(f"tags: expected shape (K, H, W) or (K, H, W, L) for heatmaps {hs}, got {ts}")
        hs, ts = (1,) + hs, (1,) + ts
    elif len(ts) not in (4, 5):
        raise ValueError(f"tags: expected shape (N, K, H, W) or (N, K, H, W, L) for heatmaps {hs}, got {ts}")
    if len(ts) == 4:
        ts = ts + (1,)
    N, K, H, W = hs
    if ts[:4] != hs:
        what = "K" if ts[1] != K and ts[0] == N else "shape"
        raise ValueError(f"tags: expected (N, K, H, W[, L]) = {hs}[+L] to match heatmaps ({what} differs), "
                         f"got {ts if not single else ts[1:]}")
    if min(K, H, W) == 0 or ts[4] == 0:
        raise ValueError(f"heatmaps/tags: expected non-empty maps (K, H, W, L >= 1), got heatmaps "
                         f"{hs[1:]} and tags {ts[1:]}")
    if H * W >= 2**31 or K * H * W * ts[4] >= 2**40:
        raise ValueError(f"heatmaps: maps of {H}x{W} are too large (H*W must be < 2**31)")
    return N, K, H, W, ts[4], single


def _stream_handle(stream: Any) -> int:
    """A cudaStream_t as an int from None, an int, or a torch/CuPy stream object."""
    if stream is None:
        return 0
    for attr in ("cuda_stream", "ptr", "handle"):
        v = getattr(stream, attr, None)
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            stream = v
            break
    if isinstance(stream, bool) or not isinstance(stream, numbers.Integral) or int(stream) < 0:
        raise TypeError(f"stream: expected None, a non-negative int handle or a torch/CuPy stream, "
                        f"got {stream!r} ({_type_name(stream)})")
    return int(stream)


class Decoder:
    """Associative-embedding decoder.

    ``Decoder(preset="higherhrnet", backend="auto", **overrides)``; call it with

    - ``heatmaps`` (K, H, W) and ``tags`` (K, H, W) or (K, H, W, L): returns one :class:`DecodeResult`;
    - ``heatmaps`` (N, K, H, W) and ``tags`` (N, K, H, W) or (N, K, H, W, L): returns a list of N results.

    Any real dtype and any strides are accepted (converted to C-contiguous float32 once, only when needed);
    the caller's arrays are never modified. For the ``"omz"`` preset, ``heatmaps`` are the OMZ model's
    output, in which non-peaks are negated.
    """

    def __init__(self, preset: str = "higherhrnet", backend: str = "auto", **overrides: Any) -> None:
        if not isinstance(preset, str):
            raise TypeError(f"preset: expected a str, got {_type_name(preset)}")
        if preset not in PRESETS:
            raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}")
        if not isinstance(backend, str):
            raise TypeError(f"backend: expected a str, got {_type_name(backend)}")
        if backend not in ("auto", "cpu", "cuda", "emu"):
            raise ValueError(f"backend: expected 'auto', 'cpu', 'cuda' or 'emu', got {backend!r}")
        if backend == "cuda":
            why = cuda_unavailable_reason()
            if why is not None:
                raise RuntimeError(f"backend='cuda' is not usable: {why}. Use backend='cpu' (or 'auto', which "
                                   f"falls back to the CPU)")
        unknown = sorted(set(overrides) - set(_OVERRIDABLE))
        if unknown:
            raise TypeError(f"unknown override(s) {unknown}; expected any of {list(_OVERRIDABLE)}")
        if "joint_order" in overrides and overrides["joint_order"] is not None:
            jo = overrides["joint_order"]
            if isinstance(jo, (Sequence, np.ndarray)) and not isinstance(jo, (str, bytes)):
                overrides["joint_order"] = tuple(jo)
        self.preset = preset
        #: The overrides given (the full configuration is ``config``).
        self.overrides: Dict[str, Any] = dict(overrides)
        #: The backend asked for. "auto" decodes host arrays on the CPU and device arrays with CUDA when a
        #: device is usable (see ``last_backend`` for the one a call used).
        self.backend = backend
        self.last_backend: Optional[str] = None
        self.config: DecodeConfig = _validate(replace(PRESETS[preset], **overrides))
        self._params: Dict[int, Any] = {}
        self.last_timings: Dict[str, float] = {}

    @property
    def coordinate_offset(self) -> float:
        """What this decoder adds to pixel-index coordinates of detected joints (x = column index)."""
        c = self.config
        if c.variant == "higherhrnet" and not (c.adjust or c.dark):
            return 0.0
        return float(np.float32(c.delta))

    def _native_params(self, K: int) -> Any:
        p = self._params.get(K)
        if p is not None:
            return p
        c = self.config
        order = c.joint_order if c.joint_order is not None else default_joint_order(c.variant, K)
        if len(order) != K:
            raise ValueError(f"joint_order: expected a permutation of 0..{K - 1} for K={K} joints, "
                             f"got {len(order)} entries")
        p = _C.DecodeParams()
        p.variant = _VARIANTS[c.variant]
        p.solver = _SOLVERS[c.solver]
        p.max_people = c.max_people
        p.detection_threshold = c.detection_threshold
        p.tag_threshold = c.tag_threshold
        p.nms_kernel = c.nms_kernel
        p.use_detection_val = c.use_detection_val
        p.ignore_too_much = c.ignore_too_much
        p.adjust = c.adjust
        p.refine = c.refine
        p.dist_reweight = c.dist_reweight
        p.refine_own_tag = c.refine_own_tag
        p.dark = c.dark
        p.use_udp = c.use_udp
        p.blur_kernel = blur_taps(c)
        p.heat_abs = c.heat_abs
        p.delta = c.delta
        p.has_pose_threshold = c.pose_threshold is not None
        p.pose_threshold = 0.0 if c.pose_threshold is None else c.pose_threshold
        p.joint_order = list(order)
        p.tile = c.refine_tile
        p.device_candidates = c.device_candidates
        self._params[K] = p
        return p

    def prepare(self, heatmaps: Any, tags: Any) -> Tuple[np.ndarray, np.ndarray, bool]:
        """Validate and convert host inputs: returns heatmaps (N,K,H,W) and tags (N,K,H,W,L), both
        C-contiguous float32 (views of the inputs where possible), and whether the input was a single image."""
        h = _as_maps("heatmaps", heatmaps)
        t = _as_maps("tags", tags)
        N, K, H, W, L, single = _batch_shape(h.shape, t.shape)
        h = np.ascontiguousarray(h.reshape(N, K, H, W), dtype=np.float32)
        t = np.ascontiguousarray(t.reshape(N, K, H, W, L), dtype=np.float32)
        return h, t, single

    def __call__(self, heatmaps: Any, tags: Any, stream: Any = None) -> Union[DecodeResult, List[DecodeResult]]:
        """Decode one image (K,H,W maps) or a batch (N,K,H,W). ``stream``: CUDA stream for device inputs
        (an int handle, or an object with ``cuda_stream``/``ptr`` such as torch/CuPy streams); None: the
        default stream."""
        t0 = time.perf_counter()
        dh = _device.as_device_array("heatmaps", heatmaps)
        dt = _device.as_device_array("tags", tags)
        backend = self.backend
        if dh is not None or dt is not None:
            if dh is None or dt is None:
                raise ValueError(f"heatmaps/tags: expected both on the same device, got heatmaps "
                                 f"{'on a CUDA device' if dh else 'in host memory'} and tags "
                                 f"{'on a CUDA device' if dt else 'in host memory'}")
            if dh.device is not None and dt.device is not None and dh.device != dt.device:
                raise ValueError(f"heatmaps/tags: expected the same CUDA device, got heatmaps on cuda:{dh.device} "
                                 f"and tags on cuda:{dt.device}")
            if backend == "cuda" or (backend == "auto" and cuda_unavailable_reason() is None):
                return self._call_device(dh, dt, stream, t0)
            heatmaps, tags = _device.to_host("heatmaps", heatmaps), _device.to_host("tags", tags)
            backend = "cpu" if backend == "auto" else backend
        elif backend == "auto":
            backend = "cpu"
        if stream is not None:
            _stream_handle(stream)  # validated even when unused
        h, t, single = self.prepare(heatmaps, tags)
        t1 = time.perf_counter()
        N, K = h.shape[:2]
        self.last_backend = backend
        if N == 0:
            self.last_timings = {"prepare_ms": (t1 - t0) * 1e3}
            return []
        threads = self.config.num_threads or _C.default_num_threads()
        raw = _C.decode(h, t, self._native_params(K), threads, _BACKEND_CODES[backend])
        return self._results(raw, single, t0, t1)

    def _call_device(self, dh: "_device.DeviceArray", dt: "_device.DeviceArray", stream: Any,
                     t0: float) -> Union[DecodeResult, List[DecodeResult]]:
        N, K, H, W, L, single = _batch_shape(dh.shape, dt.shape)
        handle = _stream_handle(stream)
        t1 = time.perf_counter()
        self.last_backend = "cuda"
        if N == 0:
            self.last_timings = {"prepare_ms": (t1 - t0) * 1e3}
            return []
        threads = self.config.num_threads or _C.default_num_threads()
        device = dh.device if dh.device is not None else (dt.device if dt.device is not None else -1)
        raw = _C.decode_device(dh.ptr, dt.ptr, N, K, H, W, L, self._native_params(K), threads, handle, device)
        return self._results(raw, single, t0, t1)

    def _results(self, raw: Any, single: bool, t0: float, t1: float) -> Union[DecodeResult, List[DecodeResult]]:
        t2 = time.perf_counter()
        results = [DecodeResult(kp, sc, tm) for kp, sc, tm in raw]
        self.last_timings = {"prepare_ms": (t1 - t0) * 1e3, "native_ms": (t2 - t1) * 1e3,
                             "call_ms": (time.perf_counter() - t0) * 1e3}
        return results[0] if single else results

    def __repr__(self) -> str:
        return f"Decoder(preset={self.preset!r}, backend={self.backend!r})"
