"""HigherHRNet (Cheng et al., CVPR 2020) with the attribute names of the official implementation.

Every submodule sits at the path the official ``pose_higher_hrnet.py`` gives it (``conv1``, ``bn1``,
``layer1``, ``transition1..3``, ``stage2..4``, ``final_layers``, ``deconv_layers``), so the keys of
``state_dict()`` are exactly those of the published checkpoints and they load with ``strict=True``.
Only the COCO test configuration is built: tags per joint, associative-embedding channels on the first
output only, one deconvolution stage whose input is the backbone features concatenated with the first output.

Outputs of ``forward(x)`` for x (N, 3, H, W) with H and W multiples of 32 (64 for the predictor's sizes):
``[stage0 (N, 2K, H/4, W/4): K heatmaps then K tags, stage1 (N, K, H/2, W/2): K heatmaps]``.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

__all__ = ["ARCH_SPECS", "PoseHigherResolutionNet", "load_checkpoint"]

# The official BatchNorm momentum; it changes training only, never a forward pass in eval mode.
_BN_MOMENTUM = 0.1

#: The official ``MODEL.EXTRA`` settings of the COCO HigherHRNet configs (w32_512 / w32_640 and w48_640
#: differ only in width; the input size is a test-time choice).
ARCH_SPECS: Dict[str, Dict[str, Any]] = {
    "higherhrnet_w32": {"width": 32, "input_size": 512},
    "higherhrnet_w48": {"width": 48, "input_size": 640},
}

# Stage layout shared by both widths: (modules, blocks per branch); branch i has width * 2**i channels.
_STAGES = {2: (1, 4), 3: (4, 4), 4: (3, 4)}
_DECONV_BLOCKS = 4  # BasicBlocks after the transposed convolution (DECONV.NUM_BASIC_BLOCKS)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, momentum=_BN_MOMENTUM)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (HRNet branches and the deconv head)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = _bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = _bn(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class Bottleneck(nn.Module):
    """1x1, 3x3, 1x1 convolutions with a residual connection (``layer1``)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = _bn(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


def _projection(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    # The residual shortcut when the block changes width or resolution.
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False), _bn(cout))


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then every output resolution sums every branch (``fuse_layers``).

    ``fuse_layers[i][j]`` brings branch j to branch i: a 1x1 conv, BN and nearest upsampling when j is
    coarser, a chain of stride-2 3x3 convs when j is finer, None for j == i.
    """

    def __init__(self, num_branches: int, num_blocks: int, channels: Sequence[int], multi_scale_output: bool):
        super().__init__()
        self.num_branches = num_branches
        self.num_inchannels = list(channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(num_blocks))) for c in channels)
        self.fuse_layers = self._make_fuse_layers() if num_branches > 1 else None
        self.relu = nn.ReLU(inplace=True)

    def _make_fuse_layers(self) -> nn.ModuleList:
        ch = self.num_inchannels
        n_out = self.num_branches if self.multi_scale_output else 1
        rows = []
        for i in range(n_out):
            row: List[Optional[nn.Module]] = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(ch[j], ch[i], 1, 1, 0, bias=False), _bn(ch[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = ch[i] if last else ch[j]
                        layers: List[nn.Module] = [_conv3x3(ch[j], cout, stride=2), _bn(cout)]
                        if not last:
                            layers.append(nn.ReLU(inplace=True))
                        steps.append(nn.Sequential(*layers))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        return nn.ModuleList(rows)

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, self.num_branches):
                y = y + (xs[j] if j == i else row[j](xs[j]))
            out.append(self.relu(y))
        return out


class PoseHigherResolutionNet(nn.Module):
    """HigherHRNet with an HRNet backbone of ``width`` (32 or 48) and ``num_joints`` keypoint types."""

    def __init__(self, width: int = 32, num_joints: int = 17):
        super().__init__()
        self.width = width
        self.num_joints = num_joints
        # Stem: two stride-2 convolutions, then four Bottlenecks at 1/4 resolution.
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = _bn(64)
        self.conv2 = nn.Conv2d(64, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = _bn(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(Bottleneck(64, 64, downsample=_projection(64, 256)),
                                    *(Bottleneck(256, 64) for _ in range(3)))
        pre = [256]
        for s in (2, 3, 4):
            modules, blocks = _STAGES[s]
            cur = [width * 2 ** b for b in range(s)]
            setattr(self, f"transition{s - 1}", self._make_transition(pre, cur))
            # The last module of stage 4 keeps only the highest resolution.
            setattr(self, f"stage{s}", nn.Sequential(*(
                HighResolutionModule(s, blocks, cur, multi_scale_output=not (s == 4 and m == modules - 1))
                for m in range(modules))))
            pre = cur
        # Heads: 2K channels (heatmaps + tags) at 1/4; the deconv stage sees features + that output.
        K = num_joints
        self.final_layers = nn.ModuleList([nn.Conv2d(width, 2 * K, 1, 1, 0), nn.Conv2d(width, K, 1, 1, 0)])
        deconv: List[nn.Module] = [nn.Sequential(
            nn.ConvTranspose2d(width + 2 * K, width, kernel_size=4, stride=2, padding=1, output_padding=0,
                               bias=False),
            _bn(width), nn.ReLU(inplace=True))]
        deconv += [nn.Sequential(BasicBlock(width, width)) for _ in range(_DECONV_BLOCKS)]
        self.deconv_layers = nn.ModuleList([nn.Sequential(*deconv)])
        self._init_weights()

    @staticmethod
    def _make_transition(pre: List[int], cur: List[int]) -> nn.ModuleList:
        layers: List[Optional[nn.Module]] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(None if c == pre[i] else nn.Sequential(
                    _conv3x3(pre[i], c), _bn(c), nn.ReLU(inplace=True)))
            else:
                # A new, coarser branch: stride-2 convolutions from the coarsest existing branch.
                steps = []
                for k in range(i + 1 - len(pre)):
                    cout = c if k == i - len(pre) else pre[-1]
                    steps.append(nn.Sequential(_conv3x3(pre[-1], cout, stride=2), _bn(cout), nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _init_weights(self) -> None:
        # The official initialisation (normal, std 0.001; BN to identity) keeps random-weight outputs small
        # and finite, which is what the tests of this package rely on.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _next_inputs(transition: nn.ModuleList, ys: List[torch.Tensor]) -> List[torch.Tensor]:
        # Existing branches pass through (or are re-projected); a new branch grows from the coarsest.
        out = []
        for i, t in enumerate(transition):
            if t is None:
                out.append(ys[i])
            else:
                out.append(t(ys[i] if i < len(ys) else ys[-1]))
        return out

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys: List[torch.Tensor] = [self.layer1(x)]
        for s in (2, 3, 4):
            ys = getattr(self, f"stage{s}")(self._next_inputs(getattr(self, f"transition{s - 1}"), ys))
        feat = ys[0]
        out0 = self.final_layers[0](feat)
        feat = self.deconv_layers[0](torch.cat((feat, out0), 1))
        return [out0, self.final_layers[1](feat)]


def _read_state_dict(checkpoint: Union[str, os.PathLike, Dict[str, Any]]) -> Dict[str, Any]:
    if isinstance(checkpoint, (str, os.PathLike)):
        path = os.fspath(checkpoint)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint: no such file {path!r}")
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
            raise ValueError(f"checkpoint: {path!r} is not a readable PyTorch checkpoint ({e})") from e
    elif isinstance(checkpoint, dict):
        sd = checkpoint
    else:
        raise TypeError(f"checkpoint: expected a path or a state dict, got {type(checkpoint).__name__}")
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"checkpoint: expected a state dict, got {type(sd).__name__}")
    if sd and all(isinstance(k, str) and k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _preview(keys: List[str], n: int = 8) -> str:
    more = f" ... and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_checkpoint(model: nn.Module, checkpoint: Union[str, os.PathLike, Dict[str, Any]]) -> nn.Module:
    """See :func:`hrdecode.models.load_checkpoint`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    sd = _read_state_dict(checkpoint)
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [f"{k} {tuple(sd[k].shape)} (model {tuple(own[k].shape)})" for k in own
              if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_preview(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_preview(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatch(es): {_preview(shapes, 4)}")
    if problems:
        name = getattr(model, "width", None)
        arch = f"higherhrnet_w{name}" if name else type(model).__name__
        raise ValueError(f"checkpoint: does not fit {arch}: " + "; ".join(problems))
    model.load_state_dict(sd, strict=True)
    return model
