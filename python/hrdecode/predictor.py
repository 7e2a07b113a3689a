"""End to end: image -> network -> aggregated maps -> decode -> keypoints in image pixels.

>>> p = hrdecode.Predictor("model.onnx")              # or a .pth checkpoint, or a torch.nn.Module
>>> res = p("photo.jpg")                              # or an HxWx3 uint8 BGR array
>>> res.keypoints, res.scores, res.timings            # (P,K,3) image pixels, (P,), ms per stage

Dimension letters as in :mod:`hrdecode.decoder` (N batch, K joints, H/W maps, L tag length, P people).

Two model layouts are recognised by their output names:

- ``hh``: the official HigherHRNet outputs, as :func:`hrdecode.export.export_onnx` names them
  (``hh_stage0`` (N, 2K, H/4, W/4), ``hh_stage1`` (N, K, H/2, W/2)), or the two outputs of a PyTorch model.
  The pipeline is HigherHRNet's test path (``tools/valid.py``): short side to ``input_size``, long side
  rounded up to a multiple of 64, centred affine warp, RGB, ImageNet normalisation; stage fusion, flip test
  with the flip index, multi-scale averaging with tag concatenation, projection to the input size; the
  ``higherhrnet`` decoder; the inverse affine back to the image.
- ``omz``: Open Model Zoo's HigherHRNet export: ``heatmaps`` (NMS inside, non-peaks negated) and
  ``embeddings``, both at 1/2 input resolution. Pre-processing is OMZ's (aspect-preserving resize so the short
  side is ``input_size``, centre padding to a multiple of 32; a uint8 input takes BGR pixels as the OpenVINO
  IR does, a float input takes RGB ImageNet-normalised pixels); no flip and one scale; the ``omz`` decoder.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .decoder import Decoder, cuda_unavailable_reason

__all__ = ["Predictor", "PredictResult", "COCO_FLIP_INDEX", "CROWDPOSE_FLIP_INDEX", "multi_scale_size",
           "affine_transform", "load_image", "read_frames"]

#: Left/right swap of the 17 COCO joints (HigherHRNet's ``FLIP_CONFIG['COCO']``).
COCO_FLIP_INDEX: Tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
#: Left/right swap of the 14 CrowdPose joints (``FLIP_CONFIG['CROWDPOSE']``).
CROWDPOSE_FLIP_INDEX: Tuple[int, ...] = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13)

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_HH_OUTPUTS = ("hh_stage0", "hh_stage1")
_OMZ_OUTPUTS = ("heatmaps", "embeddings")
ImageLike = Union[np.ndarray, str, "os.PathLike[str]"]


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - opencv is in the [predict] extra
        raise ImportError("hrdecode.Predictor needs OpenCV: pip install opencv-python-headless") from e
    return cv2


@dataclass
class PredictResult:
    """People found in one image, in that image's pixels.

    Attributes:
        keypoints: (P, K, 3) float32: x, y in original image pixels (HigherHRNet's convention: a joint at the
            centre of the network-input pixel i maps from i + 0.5), score.
        scores: (P,) float32 person scores.
        timings: milliseconds: ``preprocess_ms``, ``forward_ms``, ``aggregate_ms`` (fusion, flip, scales,
            projection), ``decode_ms``, ``total_ms``. Images that went through the network together share the
            batch's cost, divided evenly.
        image_size: (height, width) of the image.
        source: the path or frame index the image came from, when known.
        error: why this image could not be processed (only in :meth:`Predictor.stream` and ``predict_paths``,
            which keep going); keypoints and scores are then empty.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    timings: Dict[str, float] = field(default_factory=dict)
    image_size: Tuple[int, int] = (0, 0)
    source: Any = None
    error: Optional[str] = None

    @property
    def num_people(self) -> int:
        return int(self.scores.shape[0])

    def __repr__(self) -> str:
        err = f", error={self.error!r}" if self.error else ""
        return f"PredictResult(people={self.num_people}, image_size={self.image_size}, source={self.source!r}{err})"


# ----------------------------------------------------------------------------------------------------------
# Images and videos


def load_image(path: Union[str, "os.PathLike[str]"]) -> np.ndarray:
    """Read ``path`` as HigherHRNet does (colour, EXIF orientation ignored): an HxWx3 uint8 BGR array."""
    cv2 = _cv2()
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"image: no such file {p!r}")
    img = cv2.imread(p, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ValueError(f"image: {p!r} is not a readable image")
    return img


def _check_image(name: str, img: Any) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name}: expected an HxWx3 uint8 BGR array or a path, got {type(img).__name__}")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        raise ValueError(f"{name}: expected an HxWx3 uint8 BGR array, got a grayscale image of shape {img.shape} "
                         f"(convert with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))")
    if img.ndim == 3 and img.shape[2] == 4:
        raise ValueError(f"{name}: expected an HxWx3 uint8 BGR array, got 4 channels {img.shape} "
                         f"(drop alpha with cv2.cvtColor(img, cv2.COLOR_BGRA2BGR))")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name}: expected an HxWx3 uint8 BGR array, got shape {img.shape}")
    if img.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, got {img.dtype}")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ValueError(f"{name}: expected an image of at least 2x2 pixels, got {img.shape[:2]}")
    return img


def read_frames(video: Union[str, "os.PathLike[str]"]) -> Iterator[np.ndarray]:
    """Frames of a video file as HxWx3 uint8 BGR arrays, one at a time."""
    cv2 = _cv2()
    p = os.fspath(video)
    if not os.path.isfile(p):
        raise FileNotFoundError(f"video: no such file {p!r}")
    cap = cv2.VideoCapture(p)
    if not cap.isOpened():
        raise ValueError(f"video: {p!r} cannot be opened as a video")
    try:
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            yield frame
        if n == 0:
            raise ValueError(f"video: {p!r} has no readable frame")
    finally:
        cap.release()


# ----------------------------------------------------------------------------------------------------------
# HigherHRNet geometry (lib/utils/transforms.py), written from its formulas


def multi_scale_size(height: int, width: int, input_size: int, scale: float, min_scale: float
                     ) -> Tuple[Tuple[int, int], np.ndarray, np.ndarray]:
    """HigherHRNet's network-input size for an image: ((w_r, h_r), centre (2,) int, scale (2,) float64).

    The short side becomes ``input_size * scale`` (rounded to 64 at ``min_scale``), the long side keeps the
    aspect ratio rounded up to a multiple of 64; the centre is rounded to integers, as the reference does.
    """
    h, w = height, width
    center = np.array([int(w / 2.0 + 0.5), int(h / 2.0 + 0.5)])
    min_input = int((min_scale * input_size + 63) // 64 * 64)
    if w < h:
        w_r = int(min_input * scale / min_scale)
        h_r = int(int((min_input / w * h + 63) // 64 * 64) * scale / min_scale)
        scale_w = w / 200.0
        scale_h = h_r / w_r * w / 200.0
    else:
        h_r = int(min_input * scale / min_scale)
        w_r = int(int((min_input / h * w + 63) // 64 * 64) * scale / min_scale)
        scale_h = h / 200.0
        scale_w = w_r / h_r * h / 200.0
    return (w_r, h_r), center, np.array([scale_w, scale_h])


def affine_transform(center: np.ndarray, scale: np.ndarray, size: Tuple[int, int], inverse: bool = False
                     ) -> np.ndarray:
    """The 2x3 matrix HigherHRNet warps with (rotation 0): image -> network input of ``size`` (w, h), or back.

    Built from the same three float32 point pairs as the reference (centre, a point half the source width
    above it, and that offset turned by 90 degrees) and solved by ``cv2.getAffineTransform``; only
    ``scale[0]`` matters, so the aspect ratio is kept and the padding is centred.
    """
    cv2 = _cv2()
    src_w = float(scale[0]) * 200.0
    dst_w, dst_h = size
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, src_w * -0.5])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + np.array([0.0, dst_w * -0.5], dtype=np.float32)
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]], dtype=np.float32)
    return cv2.getAffineTransform(dst, src) if inverse else cv2.getAffineTransform(src, dst)


# ----------------------------------------------------------------------------------------------------------
# Open Model Zoo geometry (model_api HpeAssociativeEmbedding with padding_mode="center", as the OMZ demo runs
# higherhrnet), written from its formulas


def omz_input_size(height: int, width: int, target_size: int, size_divisor: int = 32) -> Tuple[int, int]:
    """(H, W) the OMZ wrapper reshapes its model to for an image: the short side ``target_size``, the long
    side scaled by the aspect ratio and rounded, both rounded up to ``size_divisor``."""
    aspect = width / height
    if aspect >= 1.0:
        in_h, in_w = target_size, round(target_size * aspect)
    else:
        in_h, in_w = round(target_size / aspect), target_size
    return (-(-in_h // size_divisor) * size_divisor, -(-in_w // size_divisor) * size_divisor)


def omz_preprocess(image: np.ndarray, H: int, W: int, cv2: Any) -> np.ndarray:
    """HxWx3 uint8 BGR network input: resized by one factor (``fx = fy = min(H/h, W/w)``, OpenCV choosing
    the rounded size) and zero-padded around the centre (the extra pixel of an odd padding before)."""
    h, w = image.shape[:2]
    scale = min(H / h, W / w)
    r = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    rh, rw = r.shape[:2]
    top, left = (H - rh + 1) // 2, (W - rw + 1) // 2
    out = np.zeros((H, W, 3), dtype=np.uint8)
    out[top:top + rh, left:left + rw] = r[: H - top, : W - left]
    return out


def omz_map_to_image(height: int, width: int, H: int, W: int, map_h: int, map_w: int) -> np.ndarray:
    """2x3 matrix from decoded map coordinates to image pixels as the OMZ wrapper computes it: both axes
    times ``s * output_scale`` with s the float32 original/resized ratio along the image's short side's
    companion axis (its ``index_of_max_dimension``), then the long axis shifted by half the padding."""
    scale = min(H / height, W / width)
    rh, rw = int(round(height * scale)), int(round(width * scale))
    ratio = np.array((width / rw, height / rh), np.float32)
    imd = 1 if width / height >= 1.0 else 0
    s = float(ratio[imd]) * (W / map_w)  # output_scale: input width / map width
    shift = ((height, width)[imd] - max(H, W) * float(ratio[imd])) / 2
    m = np.array([[s, 0.0, 0.0], [0.0, s, 0.0]])
    m[1 - imd, 2] = shift
    return m


def _normalise_rgb(bgr: np.ndarray) -> np.ndarray:
    # ToTensor then Normalize, in float32, channels first, RGB.
    x = bgr[..., ::-1].astype(np.float32) / np.float32(255.0)
    return ((x - _MEAN) / _STD).transpose(2, 0, 1)


def _bilinear_host(x: np.ndarray, height: int, width: int, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Bilinear resize of (N, C, h, w) float32 maps with half-pixel centres (``align_corners=False``), one
    OpenCV call per plane into a preallocated output.

    OpenCV's INTER_LINEAR uses the same formula as torch's ``F.interpolate(mode="bilinear",
    align_corners=False)``: source ``(d + 0.5) * in / out - 0.5`` clamped at 0, two taps per axis. For integer
    factors the results agree with torch's to a few ulp, at 5-7x its speed on the CPU; for other ratios
    OpenCV's weights differ by ~1e-5 (tests/test_predictor.py checks both).
    """
    cv2 = _cv2()
    x = np.ascontiguousarray(x, dtype=np.float32)
    N, C = x.shape[:2]
    if out is None:
        out = np.empty((N, C, height, width), dtype=np.float32)
    for n in range(N):
        for c in range(C):
            cv2.resize(x[n, c], (width, height), dst=out[n, c], interpolation=cv2.INTER_LINEAR)
    return out


def _bilinear_host_stack(xs: List[np.ndarray], height: int, width: int,
                         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Resize L maps (N, C, h, w) and stack them last: (N, C, height, width, L), the decoder's tag layout.

    The L maps are interleaved at the small size and resized as one L-channel image per plane, which writes
    the stacked layout directly (no full-size copy)."""
    cv2 = _cv2()
    small = np.stack([np.asarray(x, dtype=np.float32) for x in xs], axis=-1)  # (N, C, h, w, L)
    N, C, L = small.shape[0], small.shape[1], small.shape[-1]
    if out is None:
        out = np.empty((N, C, height, width, L), dtype=np.float32)
    for n in range(N):
        for c in range(C):
            r = cv2.resize(small[n, c], (width, height), dst=out[n, c] if L > 1 else None,
                           interpolation=cv2.INTER_LINEAR)
            if L == 1:
                out[n, c, ..., 0] = r
    return out


class _TorchOps:
    """Map arithmetic in torch: on the model's device for CUDA outputs (with torch's bilinear kernel, the
    reference's own op), multi-threaded on the CPU otherwise (with OpenCV's faster bilinear resize)."""

    def __init__(self) -> None:
        import torch
        import torch.nn.functional as F

        self.torch, self.F = torch, F

    def asarray(self, x: Any) -> Any:
        # Tensors (a torch model's outputs, possibly on a CUDA device) stay where they are.
        return x if isinstance(x, self.torch.Tensor) else self.torch.from_numpy(np.ascontiguousarray(x))

    def resize(self, x: Any, height: int, width: int, slot: str = "") -> Any:
        if tuple(x.shape[-2:]) == (height, width):
            return x
        h, w = x.shape[-2:]
        if not x.is_cuda and height % h == 0 and width % w == 0:
            # Integer upsampling (stage fusion and projection at one scale): exact dyadic weights, OpenCV
            # agrees with torch to a few ulp and is several times faster.
            return self.torch.from_numpy(_bilinear_host(x.numpy(), height, width))
        return self.F.interpolate(x.contiguous(), size=(height, width), mode="bilinear", align_corners=False)

    def flip_w(self, x: Any) -> Any:
        return self.torch.flip(x, [3])

    def take(self, x: Any, perm: np.ndarray) -> Any:
        return x.index_select(1, self.torch.as_tensor(perm, device=x.device))

    def cat(self, xs: List[Any]) -> Any:
        return self.torch.cat(xs, 1)

    def mean2(self, a: Any, b: Any, slot: str = "") -> Any:
        return (a + b) / 2.0

    def resize_stack(self, xs: List[Any], height: int, width: int, slot: str = "") -> Any:
        """(N, C, h, w) maps resized and stacked last: (N, C, height, width, len(xs))."""
        h, w = xs[0].shape[-2:]
        if not xs[0].is_cuda and height % h == 0 and width % w == 0:
            return self.torch.from_numpy(_bilinear_host_stack([x.numpy() for x in xs], height, width))
        return self.torch.stack([self.resize(x, height, width) for x in xs], 4)

    def finish(self, x: Any, keep_device: bool) -> Any:
        """C-contiguous maps for the decoder: a CUDA tensor when the decoder can read it there, else NumPy."""
        x = x.contiguous()
        if x.is_cuda and keep_device:
            return x
        return x.cpu().numpy()


class _NumpyOps:
    """The same in NumPy and OpenCV (CPU maps, and installs without torch). The large outputs go into
    per-thread buffers reused from call to call: fresh multi-MB arrays are fresh pages from the kernel, and
    their page faults made the aggregation vary 3-6x between calls (measured). A buffer is reused for the
    same slot and shape; the decoder consumes the maps before the next call of the same thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _buf(self, slot: str, shape: Tuple[int, ...]) -> Optional[np.ndarray]:
        if not slot:
            return None
        pool = self._local.__dict__.setdefault("pool", {})
        b = pool.get(slot)
        if b is None or b.shape != shape:
            b = pool[slot] = np.empty(shape, dtype=np.float32)  # one buffer per slot: old shapes are freed
        return b

    def asarray(self, x: Any) -> np.ndarray:
        if hasattr(x, "cpu"):  # a framework tensor
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float32)

    def resize(self, x: np.ndarray, height: int, width: int, slot: str = "") -> np.ndarray:
        if x.shape[-2:] == (height, width):
            return x
        return _bilinear_host(x, height, width, out=self._buf(slot, tuple(x.shape[:2]) + (height, width)))

    def flip_w(self, x: np.ndarray) -> np.ndarray:
        return x[..., ::-1]

    def take(self, x: np.ndarray, perm: np.ndarray) -> np.ndarray:
        return x[:, perm]

    def cat(self, xs: List[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs, 1)

    def mean2(self, a: np.ndarray, b: np.ndarray, slot: str = "") -> np.ndarray:
        # (a + b) / 2.0 with the same two roundings, written into the slot's buffer.
        out = self._buf(slot, tuple(np.broadcast_shapes(a.shape, b.shape)))
        out = np.add(a, b, out=out)
        return np.divide(out, np.float32(2.0), out=out)

    def resize_stack(self, xs: List[np.ndarray], height: int, width: int, slot: str = "") -> np.ndarray:
        shape = tuple(xs[0].shape[:2]) + (height, width, len(xs))
        return _bilinear_host_stack(xs, height, width, out=self._buf(slot, shape))

    def finish(self, x: np.ndarray, keep_device: bool) -> np.ndarray:
        return np.ascontiguousarray(x)


def _map_ops() -> Any:
    try:
        return _TorchOps()
    except ImportError:
        return _NumpyOps()


# ----------------------------------------------------------------------------------------------------------
# Network runners


class _OrtRunner:
    def __init__(self, path: str, device: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise ImportError("an .onnx model needs ONNX Runtime: pip install 'hrdecode[onnx]' "
                              "(onnxruntime-gpu for CUDA)") from e
        avail = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in avail:
            raise RuntimeError(f"device='cuda': ONNX Runtime has no CUDAExecutionProvider here (available: {avail}); "
                               f"install onnxruntime-gpu or use device='cpu'")
        providers = ["CPUExecutionProvider"]
        if device in ("cuda", "auto") and "CUDAExecutionProvider" in avail:
            providers.insert(0, "CUDAExecutionProvider")
        so = ort.SessionOptions()
        # ORT's worker threads otherwise spin after each run and slow the map aggregation that follows.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(path, sess_options=so, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
            raise ValueError(f"model: {path!r} is not a loadable ONNX model ({str(e).strip()[:300]})") from e
        self.device = "cuda" if "CUDAExecutionProvider" in self.session.get_providers() else "cpu"
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ValueError(f"model: {path!r}: expected one (N, 3, H, W) input, got "
                             f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        self.input_uint8 = "uint8" in inputs[0].type
        shape = inputs[0].shape
        self.static_hw = tuple(shape[2:]) if all(isinstance(s, int) for s in shape[2:]) else None
        self.static_batch = shape[0] if isinstance(shape[0], int) else None
        names = [o.name for o in self.session.get_outputs()]
        if set(_HH_OUTPUTS) <= set(names):
            self.layout, self.outputs = "hh", list(_HH_OUTPUTS)
        elif set(_OMZ_OUTPUTS) <= set(names):
            self.layout, self.outputs = "omz", list(_OMZ_OUTPUTS)
        else:
            raise ValueError(f"model: {path!r}: outputs {names} are neither HigherHRNet's {list(_HH_OUTPUTS)} "
                             f"(hrdecode export) nor Open Model Zoo's {list(_OMZ_OUTPUTS)}")

    def __call__(self, x: np.ndarray) -> List[np.ndarray]:
        if self.static_batch is not None and x.shape[0] != self.static_batch:
            parts = [self.session.run(self.outputs, {self.input_name: x[i:i + self.static_batch]})
                     for i in range(0, x.shape[0], self.static_batch)]
            return [np.concatenate([p[k] for p in parts]) for k in range(len(self.outputs))]
        return self.session.run(self.outputs, {self.input_name: x})


class _TorchRunner:
    layout = "hh"
    input_uint8 = False
    static_hw = None

    def __init__(self, module: Any, device: str) -> None:
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device='cuda': torch sees no CUDA device; use device='cpu'")
        self.torch = torch
        self.device = "cuda" if device in ("cuda", "auto") and torch.cuda.is_available() else "cpu"
        self.module = module.to(self.device).eval()

    def __call__(self, x: np.ndarray) -> List[Any]:
        torch = self.torch
        with torch.inference_mode():
            out = self.module(torch.from_numpy(x).to(self.device))
        if not isinstance(out, (list, tuple)) or len(out) != 2 or not all(isinstance(o, torch.Tensor) for o in out):
            raise ValueError(f"model: expected a module returning [stage0, stage1] (HigherHRNet), got "
                             f"{type(out).__name__}{'' if not isinstance(out, (list, tuple)) else f' of {len(out)}'}")
        # Outputs stay on the model's device: fusion, flip and projection run there too.
        return [o.float() for o in out]


def _make_runner(model: Any, arch: str, device: str) -> Any:
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model: no such file {path!r}")
        ext = os.path.splitext(path)[1].lower()
        if ext == ".onnx":
            return _OrtRunner(path, device)
        if ext in (".pth", ".pt", ".ckpt"):
            from . import models

            return _TorchRunner(models.build_model(arch, checkpoint=path), device)
        raise ValueError(f"model: expected an .onnx or .pth file, got {path!r}")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(model, torch.nn.Module):
        return _TorchRunner(model, device)
    raise TypeError(f"model: expected a path to an .onnx/.pth file or a torch.nn.Module, got {type(model).__name__}")


# ----------------------------------------------------------------------------------------------------------


@dataclass
class _Meta:
    """Where one image went: enough to map network-input coordinates back to the image."""

    image_size: Tuple[int, int]
    trans_inv: np.ndarray  # 2x3, network-input pixels -> image pixels
    input_size: Tuple[int, int]  # (w, h) of the decoded maps' coordinate frame


class Predictor:
    """HigherHRNet bottom-up pose estimation on images and videos.

    Args:
        model: an ``.onnx`` file (from ``hrdecode export`` or Open Model Zoo), a ``.pth`` checkpoint of
            ``arch``, or a ``torch.nn.Module`` returning HigherHRNet's two outputs (it is moved to the device
            and put in eval mode).
        arch: the architecture of a ``.pth`` checkpoint (``higherhrnet_w32`` or ``higherhrnet_w48``).
        device: "auto" (CUDA when ONNX Runtime's CUDA provider or torch's CUDA works, else CPU), "cpu", "cuda".
        flip: HigherHRNet's flip test (average with the mirrored image). Not applied to OMZ models.
        scales: test scales; with more than one, 1.0 must be among them (its tags are the ones decoded).
        preset: decoder preset for HigherHRNet-layout models ("higherhrnet", "mmpose" or "accurate"); OMZ
            models always decode with "omz". The decoder's coordinates go through the inverse affine as they
            are, so "accurate" (pixel-index coordinates) gives unbiased image coordinates and the others keep
            their references' +0.5.
        input_size: short side of the network input (None: 512 for W32, 640 for W48, the OMZ model's size).
        flip_index: joint permutation under a horizontal flip (None: COCO for K=17, CrowdPose for K=14).
        decoder_overrides: passed to :class:`hrdecode.Decoder`.
    """

    def __init__(self, model: Any, arch: str = "higherhrnet_w32", device: str = "auto", flip: bool = True,
                 scales: Sequence[float] = (1.0,), preset: str = "higherhrnet", input_size: Optional[int] = None,
                 flip_index: Optional[Sequence[int]] = None, **decoder_overrides: Any) -> None:
        from .models import ARCHS

        if not isinstance(arch, str) or arch not in ARCHS:
            raise ValueError(f"arch: expected one of {list(ARCHS)}, got {arch!r}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda', got {device!r}")
        if not isinstance(flip, (bool, np.bool_)):
            raise TypeError(f"flip: expected a bool, got {type(flip).__name__}")
        if isinstance(scales, (int, float)) or not isinstance(scales, Sequence) or len(scales) == 0:
            raise ValueError(f"scales: expected a non-empty sequence of positive numbers, got {scales!r}")
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s <= 8 for s in scales):
            raise ValueError(f"scales: expected positive numbers (at most 8), got {list(scales)!r}")
        if len(set(scales)) != len(scales):
            raise ValueError(f"scales: expected distinct values, got {list(scales)!r}")
        if len(scales) > 1 and 1.0 not in scales:
            raise ValueError(f"scales: with several scales 1.0 must be one of them (its tags are decoded), got "
                             f"{list(scales)!r}")
        if preset not in ("higherhrnet", "mmpose", "accurate"):
            raise ValueError(f"preset: expected 'higherhrnet', 'mmpose' or 'accurate' (OMZ models pick 'omz' "
                             f"themselves), got {preset!r}")
        if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int)
                                       or input_size < 64):
            raise ValueError(f"input_size: expected an int >= 64, got {input_size!r}")
        self.arch = arch
        self._runner = _make_runner(model, arch, device)
        self.layout: str = self._runner.layout
        self.device: str = self._runner.device
        if self.layout == "omz":
            if tuple(float(s) for s in scales) != (1.0,):
                raise ValueError(f"scales: an Open Model Zoo model runs at one scale, got {list(scales)!r}")
            self.flip = False
            self.preset = "omz"
            static = self._runner.static_hw
            self.input_size = input_size or (min(static) if static else 512)
        else:
            self.flip = bool(flip)
            self.preset = preset
            from .models import arch_spec

            self.input_size = input_size or int(arch_spec(arch)["input_size"])
        self.scales: Tuple[float, ...] = tuple(float(s) for s in scales)
        self.flip_index = None if flip_index is None else tuple(int(i) for i in flip_index)
        backend = "auto" if self.device == "cuda" else "cpu"
        self.decoder = Decoder(self.preset, backend=backend, **decoder_overrides)
        # Map arithmetic in torch only for CUDA tensors (a torch model on a GPU). On the CPU, NumPy + OpenCV:
        # torch's OpenMP workers spin after each op and take the cores OpenCV's resize threads need
        # (measured: the aggregation varied 3x from call to call).
        self._ops = _map_ops() if isinstance(self._runner, _TorchRunner) and self.device == "cuda" else _NumpyOps()

    def __repr__(self) -> str:
        return (f"Predictor(layout={self.layout!r}, device={self.device!r}, flip={self.flip}, scales={self.scales}, "
                f"preset={self.preset!r}, input_size={self.input_size})")

    # ---- public calls ----------------------------------------------------------------------------------

    def __call__(self, image: Union[ImageLike, Sequence[ImageLike]]) -> Union[PredictResult, List[PredictResult]]:
        """One image (HxWx3 uint8 BGR array or path) -> a :class:`PredictResult`; a list -> a list, in
        order. Images of the same size in a list go through the network as one batch."""
        if isinstance(image, (list, tuple)):
            return self.predict_batch(image)
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[ImageLike], sources: Optional[Sequence[Any]] = None
                      ) -> List[PredictResult]:
        """Results for ``images`` in order; same-size images share network calls."""
        if not isinstance(images, (list, tuple)):
            raise TypeError(f"images: expected a list of images or paths, got {type(images).__name__}")
        arrays, srcs = [], []
        for i, im in enumerate(images):
            src = sources[i] if sources is not None else (os.fspath(im) if isinstance(im, (str, os.PathLike)) else None)
            arr = load_image(im) if isinstance(im, (str, os.PathLike)) else _check_image(f"images[{i}]", im)
            arrays.append(arr)
            srcs.append(src)
        out: List[Optional[PredictResult]] = [None] * len(arrays)
        groups: Dict[Tuple[int, int], List[int]] = {}
        for i, a in enumerate(arrays):
            groups.setdefault(a.shape[:2], []).append(i)
        for idx in groups.values():
            for i, r in zip(idx, self._run([arrays[i] for i in idx])):
                r.source = srcs[i]
                out[i] = r
        return [r for r in out if r is not None]

    def stream(self, frames: Union[str, "os.PathLike[str]", Iterable[np.ndarray]], batch_size: int = 1
               ) -> Iterator[PredictResult]:
        """One result per frame of a video file or an iterable of frames, in order, holding at most
        ``batch_size`` frames at a time. A frame that cannot be processed gives a result with ``error`` set
        (and no people), and the stream goes on."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        it = read_frames(frames) if isinstance(frames, (str, os.PathLike)) else iter(frames)
        buf: List[Tuple[int, Any]] = []
        index = 0
        for frame in it:
            buf.append((index, frame))
            index += 1
            if len(buf) == batch_size:
                yield from self._stream_batch(buf)
                buf = []
        if buf:
            yield from self._stream_batch(buf)

    def _stream_batch(self, buf: List[Tuple[int, Any]]) -> Iterator[PredictResult]:
        good, bad = [], {}
        for i, f in buf:
            try:
                good.append((i, _check_image(f"frame {i}", f)))
            except (TypeError, ValueError) as e:
                bad[i] = str(e)
        results = dict(zip([i for i, _ in good], self.predict_batch([f for _, f in good], [i for i, _ in good]))) \
            if good else {}
        K = self._num_joints_hint()
        for i, _ in buf:
            if i in results:
                yield results[i]
            else:
                yield PredictResult(np.zeros((0, K, 3), np.float32), np.zeros((0,), np.float32), source=i,
                                    error=bad[i])

    def maps(self, image: ImageLike) -> Tuple[np.ndarray, np.ndarray, Dict[str, Any]]:
        """The decoder's inputs for one image: heatmaps (K, H, W), tags (K, H, W, L) and the geometry
        (``trans_inv`` 2x3 from map pixels to image pixels, ``input_size`` (w, h))."""
        img = load_image(image) if isinstance(image, (str, os.PathLike)) else _check_image("image", image)
        heat, tags, metas, _ = self._maps([img])
        # copies: the arrays may be this thread's reusable buffers
        heat, tags = (a.cpu().numpy() if hasattr(a, "cpu") else np.array(a) for a in (heat, tags))
        return heat[0], tags[0], {"trans_inv": metas[0].trans_inv, "input_size": metas[0].input_size}

    # ---- pipeline --------------------------------------------------------------------------------------

    def _num_joints_hint(self) -> int:
        return getattr(self, "_K", 17)

    def _flip_perm(self, K: int) -> np.ndarray:
        if self.flip_index is not None:
            if sorted(self.flip_index) != list(range(K)):
                raise ValueError(f"flip_index: expected a permutation of 0..{K - 1}, got {list(self.flip_index)}")
            return np.asarray(self.flip_index)
        if K == 17:
            return np.asarray(COCO_FLIP_INDEX)
        if K == 14:
            return np.asarray(CROWDPOSE_FLIP_INDEX)
        raise ValueError(f"flip_index: the model has {K} joints; pass flip_index= (or flip=False)")

    def _forward(self, x: np.ndarray) -> List[np.ndarray]:
        outs = self._runner(x)
        if self.layout == "hh":
            s0, s1 = outs
            if (s0.ndim != 4 or s1.ndim != 4 or s0.shape[1] != 2 * s1.shape[1] or s0.shape[0] != x.shape[0]
                    or s1.shape[2:] != (x.shape[2] // 2, x.shape[3] // 2)):
                raise ValueError(f"model: expected outputs (N, 2K, H/4, W/4) and (N, K, H/2, W/2) for input "
                                 f"{x.shape}, got {s0.shape} and {s1.shape}")
        return outs

    def _maps(self, images: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, List[_Meta], Dict[str, float]]:
        if self.layout == "omz":
            return self._maps_omz(images)
        return self._maps_hh(images)

    def _maps_hh(self, images: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, List[_Meta], Dict[str, float]]:
        cv2 = _cv2()
        N = len(images)
        h, w = images[0].shape[:2]
        min_scale = min(self.scales)
        base_size, center, scale = multi_scale_size(h, w, self.input_size, 1.0, min_scale)
        W, H = base_size
        t = {"preprocess_ms": 0.0, "forward_ms": 0.0, "aggregate_ms": 0.0}
        final: Any = None
        tags: Any = None
        for s in sorted(self.scales, reverse=True):
            t0 = time.perf_counter()
            size, center, scale = multi_scale_size(h, w, self.input_size, s, min_scale)
            trans = affine_transform(center, scale, size)
            x = np.stack([_normalise_rgb(cv2.warpAffine(im, trans, size, flags=cv2.INTER_LINEAR)) for im in images])
            if self.flip:
                x = np.concatenate([x, x[..., ::-1]])
            x = np.ascontiguousarray(x)
            t1 = time.perf_counter()
            s0, s1 = self._forward(x)
            t2 = time.perf_counter()
            K = s1.shape[1]
            self._K = K
            ops = self._ops
            s0, s1 = ops.asarray(s0), ops.asarray(s1)
            # Stage fusion at 1/2 resolution: the whole first output (heatmaps and tags) is upsampled.
            up0 = ops.resize(s0, s1.shape[2], s1.shape[3], slot="stage0")
            parts = [(up0[:N, :K] + s1[:N]) / 2.0]
            tag_parts = [up0[:N, K:]]
            if self.flip:
                # Flipped back, then left and right joints swapped, in heatmaps and tags alike.
                perm = self._flip_perm(K)
                f0 = ops.flip_w(up0[N:])
                parts.append((ops.take(f0[:, :K], perm) + ops.take(ops.flip_w(s1[N:]), perm)) / 2.0)
                tag_parts.append(ops.take(f0[:, K:], perm))
            # Project to the input size of scale 1, then average the flips. Tags are kept from scale 1 only,
            # stacked last as (orig, flip): L = 2 with flip.
            proj = ops.resize(ops.cat(parts), H, W, slot="projected")
            hm = proj[:, :K] if not self.flip else ops.mean2(proj[:, :K], proj[:, K:], slot="heatmaps")
            if final is None:
                # (several scales: the slots are reused by the next scale, so the sum starts as a copy)
                final = hm if len(self.scales) == 1 else hm + 0.0
            else:
                final = final + hm
            if s == 1.0 or len(self.scales) == 1:
                tags = ops.resize_stack(tag_parts, H, W, slot="tags")
            t3 = time.perf_counter()
            t["preprocess_ms"] += (t1 - t0) * 1e3
            t["forward_ms"] += (t2 - t1) * 1e3
            t["aggregate_ms"] += (t3 - t2) * 1e3
        t0 = time.perf_counter()
        if len(self.scales) > 1:
            final = final / float(len(self.scales))
        keep = self.device == "cuda" and cuda_unavailable_reason() is None
        heat_maps, tag_maps = self._ops.finish(final, keep), self._ops.finish(tags, keep)
        t["aggregate_ms"] += (time.perf_counter() - t0) * 1e3
        # The reference maps back with the centre and scale of its last (smallest) scale and the base size.
        inv = affine_transform(center, scale, base_size, inverse=True)
        metas = [_Meta((h, w), inv, base_size) for _ in images]
        return heat_maps, tag_maps, metas, t

    def _maps_omz(self, images: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, List[_Meta], Dict[str, float]]:
        cv2 = _cv2()
        t0 = time.perf_counter()
        h, w = images[0].shape[:2]
        runner = self._runner
        H, W = omz_input_size(h, w, self.input_size) if runner.static_hw is None else runner.static_hw
        batch = [omz_preprocess(im, H, W, cv2) for im in images]
        batch = [b.transpose(2, 0, 1) if runner.input_uint8 else _normalise_rgb(b) for b in batch]
        x = np.ascontiguousarray(np.stack(batch))
        t1 = time.perf_counter()
        heat, emb = self._forward(x)
        t2 = time.perf_counter()
        if heat.ndim != 4 or emb.shape[:4] != heat.shape or emb.ndim not in (4, 5):
            raise ValueError(f"model: expected heatmaps (N, K, h, w) and embeddings of the same shape, got "
                             f"{heat.shape} and {emb.shape}")
        self._K = heat.shape[1]
        tags = emb if emb.ndim == 5 else emb[..., None]
        inv = omz_map_to_image(h, w, H, W, heat.shape[2], heat.shape[3])
        metas = [_Meta((h, w), inv, (W, H)) for _ in images]
        return heat, tags, metas, {"preprocess_ms": (t1 - t0) * 1e3, "forward_ms": (t2 - t1) * 1e3,
                                   "aggregate_ms": 0.0}

    def _run(self, images: List[np.ndarray]) -> List[PredictResult]:
        t_start = time.perf_counter()
        heat, tags, metas, t = self._maps(images)
        t0 = time.perf_counter()
        decoded = self.decoder(heat, tags)
        t1 = time.perf_counter()
        N = len(images)
        results = []
        for d, meta in zip(decoded, metas):
            kp = d.keypoints.copy()
            if kp.shape[0]:
                xy = kp[..., :2].astype(np.float64)
                kp[..., :2] = (xy @ meta.trans_inv[:, :2].T + meta.trans_inv[:, 2]).astype(np.float32)
            results.append(PredictResult(kp, d.scores, image_size=meta.image_size))
        t2 = time.perf_counter()
        timings = {k: v / N for k, v in t.items()}
        timings["decode_ms"] = ((t1 - t0) + (t2 - t1)) * 1e3 / N
        timings["total_ms"] = (t2 - t_start) * 1e3 / N
        for r in results:
            r.timings = dict(timings)
        return results
