"""Device arrays from any framework, without copying: ``__cuda_array_interface__`` (CuPy, Numba, torch CUDA
tensors, ...) and DLPack (``__dlpack__`` / ``__dlpack_device__``: torch, CuPy, JAX, ONNX Runtime OrtValues
exported with ``to_dlpack``).

Nothing here imports a framework. A :class:`DeviceArray` is a raw pointer plus shape and the object that
owns the memory (kept alive for the duration of the call).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from . import _C

# DLPack device types (dlpack.h): which ones hold memory the CUDA backend can read.
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
_DL_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 9: "VPI", 10: "ROCm",
             11: "ROCm host", 13: "CUDA managed", 14: "oneAPI"}


@dataclass
class DeviceArray:
    """A C-contiguous float32 array in CUDA device memory.

    Attributes:
        ptr: device address of element 0.
        shape: array shape.
        device: CUDA device ordinal, or None when the producer does not say.
        owner: the producing object (kept referenced while the pointer is used).
        interface: "cuda_array_interface" or "dlpack".
    """

    ptr: int
    shape: Tuple[int, ...]
    device: Optional[int]
    owner: Any
    interface: str


def _contiguous_strides(shape: Tuple[int, ...], itemsize: int) -> Tuple[int, ...]:
    out, acc = [], itemsize
    for n in reversed(shape):
        out.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(out))


def _check_layout(name: str, shape: Tuple[int, ...], strides_bytes: Optional[Tuple[int, ...]], what: str) -> None:
    if any(n == 0 for n in shape):
        raise ValueError(f"{name}: expected a non-empty device array, got shape {shape}")
    if strides_bytes is None:
        return
    # Dimensions of extent 1 may carry any stride (torch reports them freely).
    want = _contiguous_strides(shape, 4)
    if any(s != w for s, w, n in zip(strides_bytes, want, shape) if n != 1):
        raise ValueError(f"{name}: expected a C-contiguous device array (strides {want} bytes for shape {shape}), "
                         f"got strides {tuple(strides_bytes)} ({what}); make it contiguous first "
                         f"(torch: .contiguous(), CuPy: cupy.ascontiguousarray)")


def _framework_device(obj: Any) -> Optional[int]:
    dev = getattr(obj, "device", None)
    for attr in ("index", "id"):  # torch.device.index, cupy Device.id
        v = getattr(dev, attr, None)
        if isinstance(v, int):
            return v
    return None


def _from_cai(name: str, obj: Any, cai: Any) -> DeviceArray:
    if not isinstance(cai, dict):
        raise TypeError(f"{name}: __cuda_array_interface__ must be a dict, got {type(cai).__name__}")
    try:
        shape = tuple(int(n) for n in cai["shape"])
        typestr = str(cai["typestr"])
        ptr = int(cai["data"][0])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise TypeError(f"{name}: malformed __cuda_array_interface__ ({e!r})") from None
    if np.dtype(typestr) != np.dtype(np.float32):
        raise TypeError(f"{name}: expected a float32 device array (typestr '<f4'), got typestr {typestr!r}; "
                        f"convert it on the device first (e.g. .float())")
    if cai.get("mask") is not None:
        raise TypeError(f"{name}: masked device arrays are not supported")
    strides = cai.get("strides")
    _check_layout(name, shape, None if strides is None else tuple(int(s) for s in strides), "cuda_array_interface")
    if ptr == 0:
        raise ValueError(f"{name}: the device array has a null data pointer")
    return DeviceArray(ptr, shape, _framework_device(obj), obj, "cuda_array_interface")


def _from_dlpack(name: str, obj: Any) -> DeviceArray:
    try:
        capsule = obj.__dlpack__()
    except TypeError:
        capsule = obj.__dlpack__(stream=None)
    info = _C.dlpack_info(capsule)
    if info["device_type"] not in (_DL_CUDA, _DL_CUDA_MANAGED):
        raise TypeError(f"{name}: expected a CUDA DLPack tensor, got device type "
                        f"{_DL_NAMES.get(info['device_type'], info['device_type'])}")
    if (info["code"], info["bits"], info["lanes"]) != (2, 32, 1):  # kDLFloat, 32 bits, scalar
        raise TypeError(f"{name}: expected a float32 DLPack tensor, got dtype code {info['code']} "
                        f"with {info['bits']} bits x {info['lanes']} lanes; convert it on the device first")
    shape = tuple(info["shape"])
    strides = info["strides"]
    _check_layout(name, shape, None if strides is None else tuple(4 * s for s in strides), "dlpack")
    if info["ptr"] == 0:
        raise ValueError(f"{name}: the DLPack tensor has a null data pointer")
    return DeviceArray(int(info["ptr"]), shape, int(info["device_id"]), (obj, capsule), "dlpack")


def as_device_array(name: str, obj: Any) -> Optional[DeviceArray]:
    """The device array behind ``obj``, or None if ``obj`` lives in host memory (decoded as a NumPy array).

    Raises TypeError/ValueError (naming ``name``) for device arrays hrdecode cannot read in place: a dtype
    other than float32, non-contiguous strides, zero size, a non-CUDA accelerator.
    """
    if isinstance(obj, np.ndarray):
        return None
    try:
        cai = getattr(obj, "__cuda_array_interface__", None)
    except Exception:  # torch raises on CPU tensors
        cai = None
    if cai is not None:
        return _from_cai(name, obj, cai)
    dl_dev = getattr(obj, "__dlpack_device__", None)
    if dl_dev is not None and hasattr(obj, "__dlpack__"):
        try:
            dev_type, _ = (int(v) for v in dl_dev())
        except Exception as e:
            raise TypeError(f"{name}: __dlpack_device__() failed ({e!r})") from None
        if dev_type in (_DL_CPU, _DL_CUDA_HOST):
            return None  # host memory: NumPy reads it
        if dev_type not in (_DL_CUDA, _DL_CUDA_MANAGED):
            raise TypeError(f"{name}: arrays on {_DL_NAMES.get(dev_type, f'device type {dev_type}')} devices are "
                            f"not supported; expected host memory or a CUDA device")
        return _from_dlpack(name, obj)
    return None


def to_host(name: str, obj: Any) -> Any:
    """A host copy of a device array through its framework (torch ``.cpu()``, CuPy ``.get()``), for
    ``backend="auto"`` when no CUDA device is usable by hrdecode. Raises TypeError if there is no way."""
    for chain in (("detach", "cpu", "numpy"), ("get",)):
        cur = obj
        try:
            for meth in chain:
                cur = getattr(cur, meth)()
        except (AttributeError, TypeError):
            continue
        except Exception as e:
            raise TypeError(f"{name}: copying the device array to the host failed ({e!r})") from None
        if isinstance(cur, np.ndarray):
            return cur
    raise TypeError(f"{name}: a device array was given, hrdecode's CUDA backend is not usable here "
                    f"({_C.cuda_status()['message']}) and the array has no known way to the host; "
                    f"copy it to host memory first")
