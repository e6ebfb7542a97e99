"""CIFAR ResNets of He et al. 2016 (sec. 4.2) with option-A shortcuts.

The module layout matches the widely used public PyTorch reimplementation, so its state dicts
load directly: ``conv1``/``bn1`` (3->16), ``layer1..3`` of ``n = (depth - 2) / 6`` ``BasicBlock``s
(16/32/64 channels, each ``conv1 bn1 conv2 bn2`` + ``shortcut``), ``linear`` 64->10.
Option A: when a block changes width or resolution, the shortcut subsamples by
``x[:, :, ::2, ::2]`` and zero-pads the channels - a parameter-free module here
(``PadShortcut``, not a lambda) so the model pickles and scripts.

Parameter-free modules are added for hookable names without changing the state-dict keys:
``relu`` (stem), ``layerK.i.relu1`` / ``layerK.i.relu2`` (inside blocks; ``layerK.i`` itself is
the block output after its final ReLU), ``avgpool`` (global average pool, output (64, 1, 1)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CifarResNet", "BasicBlock", "PadShortcut", "cifar_resnet", "DEPTHS", "CIFAR10_CLASSES"]

DEPTHS = (20, 32, 44, 56, 110)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


class PadShortcut(nn.Module):
    """Option-A shortcut: stride-2 subsampling and symmetric zero channel padding."""

    def __init__(self, pad_channels: int):
        super().__init__()
        self.pad_channels = int(pad_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C + 2 * pad_channels, H / 2, W / 2)."""
        p = self.pad_channels
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p), "constant", 0.0)

    def extra_repr(self) -> str:
        """Shown by ``print(module)``."""
        return f"pad_channels={self.pad_channels}"


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus shortcut, then ReLU (``relu1``/``relu2`` are hookable).

    Parameters
    ----------
    in_planes, planes : int
        Input and output channels.
    stride : int
        1, or 2 to halve the resolution (with a :class:`PadShortcut`).
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        if stride != 1 or in_planes != planes:
            self.shortcut: nn.Module = PadShortcut(planes // 4)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_planes, H, W) -> (B, planes, H / stride, W / stride)."""
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs."""

    def __init__(self, num_blocks: tuple[int, int, int] = (3, 3, 3), num_classes: int = 10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, num_blocks[0], 1)
        self.layer2 = self._make_layer(32, num_blocks[1], 2)
        self.layer3 = self._make_layer(64, num_blocks[2], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 32, 32) normalised images -> (B, num_classes) logits."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = torch.flatten(self.avgpool(out), 1)
        return self.linear(out)


def cifar_resnet(depth: int, num_classes: int = 10) -> CifarResNet:
    """Build ResNet-``depth`` (20, 32, 44, 56, 110 or any 6n+2) with random weights.

    Parameters
    ----------
    depth : int
    num_classes : int

    Returns
    -------
    CifarResNet
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (e.g. {DEPTHS}), got {depth}")
    n = (depth - 2) // 6
    return CifarResNet((n, n, n), num_classes=num_classes)
