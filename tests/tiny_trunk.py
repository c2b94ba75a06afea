"""A stand-in for the ResNet-18 trunk, shared by the classifier tests."""
from __future__ import annotations

from torch import nn


class TinyNet(nn.Module):
    """Stand-in for the ResNet-18 trunk: images -> pooled features, with ``feature_dim``."""

    feature_dim = 4

    def __init__(self, width=1.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu().mean(dim=(2, 3))
