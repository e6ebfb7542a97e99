"""The tiny conv model the feature-visualization tests share."""
from __future__ import annotations

import torch
from torch import nn

from topoact.models.base import ModelBundle


def tiny_bundle(size=16) -> ModelBundle:
    """conv1 (8 ch) -> relu1 -> conv2 (16 ch, stride 2) -> relu2 -> pool -> flat -> fc (4 classes)."""
    torch.manual_seed(0)
    m = nn.Sequential()
    m.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1))
    m.add_module("relu1", nn.ReLU())
    m.add_module("conv2", nn.Conv2d(8, 16, 3, padding=1, stride=2))
    m.add_module("relu2", nn.ReLU())
    m.add_module("pool", nn.AdaptiveAvgPool2d(1))
    m.add_module("flat", nn.Flatten())
    m.add_module("fc", nn.Linear(16, 4))
    m.eval()
    return ModelBundle(m, (size, size), (0.5,) * 3, (0.25,) * 3, list("abcd"), "tiny", hash="tiny")
