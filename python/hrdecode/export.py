"""ONNX export of the HigherHRNet models, with the input and output names the predictor recognises.

>>> from hrdecode.export import export_onnx
>>> export_onnx("higherhrnet_w32", "model.onnx", checkpoint="pose_higher_hrnet_w32_512.pth")

The graph has one input ``image`` (N, 3, H, W) float32 (RGB, ImageNet-normalised) and two outputs,
``hh_stage0`` (N, 2K, H/4, W/4: K heatmaps then K tags) and ``hh_stage1`` (N, K, H/2, W/2); batch, height and
width are dynamic (H and W multiples of 32; the predictor feeds multiples of 64).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Tuple, Union

__all__ = ["export_onnx", "INPUT_NAME", "OUTPUT_NAMES"]

INPUT_NAME = "image"
#: Output names of an exported HigherHRNet graph, in the order of the PyTorch model's outputs.
OUTPUT_NAMES: Tuple[str, str] = ("hh_stage0", "hh_stage1")


def export_onnx(model: Any, out: Union[str, "os.PathLike[str]"], checkpoint: Any = None, *,
                sample_size: Tuple[int, int] = (256, 256), opset: int = 17, exporter: str = "auto") -> str:
    """Write ``model`` as ONNX to ``out`` and return the path.

    Args:
        model: an architecture name (``"higherhrnet_w32"``, ``"higherhrnet_w48"``) or a ``torch.nn.Module``
            with the same two outputs.
        out: the ``.onnx`` file to write. It is written under a temporary name and renamed at the end, so a
            failed export never leaves a file that looks complete.
        checkpoint: with an architecture name, a ``.pth`` file or state dict to load (strict).
        sample_size: (H, W) of the tracing input; any multiple of 64 works, the result is dynamic anyway.
        opset: ONNX opset.
        exporter: "torchscript" (fast), "dynamo" (``torch.export``, needs onnxscript; about 10x slower to
            export here) or "auto" (torchscript when this torch still has it, else dynamo).
    """
    import torch

    from . import models

    if isinstance(model, str):
        net = models.build_model(model, checkpoint=checkpoint)
    elif isinstance(model, torch.nn.Module):
        if checkpoint is not None:
            models.load_checkpoint(model, checkpoint)
        net = model
    else:
        raise TypeError(f"model: expected an architecture name or a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a path, got {type(out).__name__}")
    if exporter not in ("auto", "torchscript", "dynamo"):
        raise ValueError(f"exporter: expected 'auto', 'torchscript' or 'dynamo', got {exporter!r}")
    if (not isinstance(sample_size, (tuple, list)) or len(sample_size) != 2
            or not all(isinstance(s, int) and s >= 64 and s % 64 == 0 for s in sample_size)):
        raise ValueError(f"sample_size: expected (H, W), multiples of 64, got {sample_size!r}")
    path = os.fspath(out)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"out: directory {parent!r} does not exist")
    was_training = net.training
    net.eval()
    x = torch.zeros(1, 3, *sample_size)
    dynamic_axes = {INPUT_NAME: {0: "N", 2: "H", 3: "W"},
                    OUTPUT_NAMES[0]: {0: "N", 2: "H_4", 3: "W_4"},
                    OUTPUT_NAMES[1]: {0: "N", 2: "H_2", 3: "W_2"}}
    tmp = path + ".partial"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            use_dynamo = exporter == "dynamo"
            try:
                torch.onnx.export(net, (x,), tmp, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                                  dynamic_axes=dynamic_axes, opset_version=opset, dynamo=use_dynamo)
            except (TypeError, RuntimeError, NotImplementedError):
                if exporter != "auto":
                    raise
                torch.onnx.export(net, (x,), tmp, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                                  dynamic_axes=dynamic_axes, opset_version=max(opset, 18), dynamo=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        # The dynamo exporter may write weights beside the model.
        if os.path.exists(tmp + ".data"):
            os.remove(tmp + ".data")
        net.train(was_training)
    return path

