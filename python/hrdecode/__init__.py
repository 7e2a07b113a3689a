"""hrdecode: fast, exact associative-embedding (HigherHRNet-style) pose decoding.

>>> import hrdecode
>>> dec = hrdecode.Decoder(preset="higherhrnet")
>>> r = dec(heatmaps, tags)          # (K,H,W), (K,H,W[,L]) -> DecodeResult
>>> r.keypoints, r.scores            # (P,K,3) float32, (P,) float32
"""
from __future__ import annotations

from typing import Any, Dict

from . import _C
from .decoder import COCO_JOINT_ORDER, PRESETS, DecodeConfig, DecodeResult, Decoder, cuda_unavailable_reason
from .predictor import PredictResult, Predictor
from .topdown import decode_topdown

__version__: str = str(_C.build.get("version", "0.0.0"))

__all__ = ["Decoder", "DecodeConfig", "DecodeResult", "PRESETS", "COCO_JOINT_ORDER", "Predictor", "PredictResult",
           "decode_topdown", "build_info", "cuda_unavailable_reason", "__version__"]


def build_info() -> Dict[str, Any]:
    """What this build contains and what this machine offers.

    Keys: ``version``, ``cuda_compiled`` (the CUDA backend was compiled in), ``cuda_available`` (a CUDA
    device answered), ``cuda_message`` (why not, or how many devices), ``cuda_architectures``, ``compiler``,
    ``simd`` (compiled for), ``simd_runtime`` (what the code built for several instruction sets runs
    here: AVX2 where the CPU has it, unless ``HRDECODE_SIMD=sse2``), ``hardware_threads``, ``threads``
    (threads a batch decode uses), ``backends`` (usable now).
    """
    info: Dict[str, Any] = dict(_C.build)
    st = _C.cuda_status()
    info["cuda_available"] = bool(st["usable"])
    info["cuda_message"] = st["message"]
    info["cuda_driver_version"] = st["driver_version"]
    info["cuda_runtime_version"] = st["runtime_version"]
    info["threads"] = _C.default_num_threads()
    info["emu_mode"] = _C.emu_mode()
    # "emu" (the CUDA kernels run on the CPU) is for testing; "cuda" only when a device answered.
    info["backends"] = ["cpu", "emu"] + (["cuda"] if cuda_unavailable_reason() is None else [])
    return info
