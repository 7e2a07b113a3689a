"""HigherHRNet networks in PyTorch, laid out like the official code so its checkpoints load unchanged.

``torch`` is imported only when a model is built: ``import hrdecode.models`` costs nothing without it.

>>> from hrdecode import models
>>> net = models.build_model("higherhrnet_w32", checkpoint="pose_higher_hrnet_w32_512.pth")
>>> stage0, stage1 = net(images)     # (N, 34, H/4, W/4), (N, 17, H/2, W/2)
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

__all__ = ["ARCHS", "build_model", "load_checkpoint", "arch_spec"]

#: Architectures this package can build, by the name ``--arch`` and ``Predictor(arch=...)`` take.
ARCHS: Tuple[str, ...] = ("higherhrnet_w32", "higherhrnet_w48")


def arch_spec(arch: str) -> Dict[str, Any]:
    """The configuration of ``arch`` (the official ``MODEL.EXTRA`` values): widths, blocks, modules."""
    from .higherhrnet import ARCH_SPECS

    if not isinstance(arch, str):
        raise TypeError(f"arch: expected a str, got {type(arch).__name__}")
    if arch not in ARCH_SPECS:
        raise ValueError(f"arch: expected one of {list(ARCHS)}, got {arch!r}")
    return dict(ARCH_SPECS[arch])


def build_model(arch: str = "higherhrnet_w32", num_joints: int = 17, checkpoint: Any = None) -> Any:
    """A ``torch.nn.Module`` for ``arch`` in eval mode, randomly initialised or loaded from ``checkpoint``
    (a path or a state dict, loaded with ``strict=True``; see :func:`load_checkpoint`)."""
    from .higherhrnet import PoseHigherResolutionNet

    spec = arch_spec(arch)
    if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints < 1:
        raise ValueError(f"num_joints: expected an int >= 1, got {num_joints!r}")
    net = PoseHigherResolutionNet(width=spec["width"], num_joints=num_joints)
    if checkpoint is not None:
        load_checkpoint(net, checkpoint)
    return net.eval()


def load_checkpoint(model: Any, checkpoint: Any) -> Any:
    """Load an official HigherHRNet checkpoint into ``model`` with ``strict=True``.

    ``checkpoint``: a path to a ``.pth`` file or a state dict. A ``{"state_dict": ...}`` wrapper and the
    ``module.`` prefix that ``DataParallel`` adds are removed. Missing, unexpected or mis-shaped keys raise a
    ValueError that names them. Returns ``model``.
    """
    from .higherhrnet import load_checkpoint as _load

    return _load(model, checkpoint)
