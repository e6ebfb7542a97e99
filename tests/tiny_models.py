"""Tiny real models shared by tests in several folders (tests/ is on sys.path via conftest)."""
from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """conv1 (8 ch) -> relu -> maxpool -> conv2 (12 ch) -> relu -> GAP -> fc."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, n_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(nn.functional.max_pool2d(x, 2)))
        return self.fc(self.pool(x).flatten(1))
