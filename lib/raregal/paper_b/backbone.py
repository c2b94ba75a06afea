"""The ResNet-18 feature extractor shared by paper B's SimCLR encoder and its classifiers.

Built from transformers' ``ResNetConfig``/``ResNetModel`` in the ResNet-18 shape (basic blocks, depths
[2, 2, 2, 2], a 7×7 stride-2 stem and max-pool) so no torchvision is needed. ``width`` scales every
channel count (1.0 = the paper's 64/128/256/512) so the CPU profiles can run the same topology narrower;
it is a profile value, never a silent change.

How the SimCLR encoder and the classifiers (``raregal.paper_b.classifiers``) use it::

    from raregal.paper_b.backbone import build_resnet18
    net = build_resnet18(width=0.25)          # random init, 128-d pooled features
    feats = net(images)                       # images float (N, 3, H, W) -> (N, net.feature_dim)
    head = torch.nn.Linear(net.feature_dim, 1)

``pretrained`` takes a local folder or hub id of a transformers ResNet-18 (e.g. ``microsoft/resnet-18``
for users with a network; nothing here downloads by itself) and then needs ``width=1.0``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import ResNetConfig, ResNetModel

RESNET18_HIDDEN = (64, 128, 256, 512)
RESNET18_DEPTHS = (2, 2, 2, 2)
MIN_CHANNELS = 4


def resnet18_config(width: float = 1.0, in_channels: int = 3) -> ResNetConfig:
    """ResNet-18 topology with every channel count multiplied by ``width`` (at least 4 channels)."""
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    hidden = [max(MIN_CHANNELS, int(round(c * width))) for c in RESNET18_HIDDEN]
    return ResNetConfig(num_channels=in_channels, embedding_size=hidden[0], hidden_sizes=hidden,
                        depths=list(RESNET18_DEPTHS), layer_type="basic", hidden_act="relu",
                        downsample_in_first_stage=False)


class ResNet18Features(nn.Module):
    """ResNet-18 trunk + global average pool: images (N, C, H, W) -> features (N, feature_dim)."""

    def __init__(self, resnet: ResNetModel, width: float):
        super().__init__()
        self.resnet = resnet
        self.width = float(width)
        self.feature_dim = int(resnet.config.hidden_sizes[-1])
        self.in_channels = int(resnet.config.num_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"expected images of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(images.shape)}")
        return self.resnet(pixel_values=images).pooler_output.flatten(1)


def build_resnet18(width: float = 1.0, pretrained: str | Path | None = None,
                   in_channels: int = 3) -> ResNet18Features:
    """A ResNet-18 that returns pooled features; random init unless ``pretrained`` names weights.

    ``pretrained``: a local folder saved with ``save_pretrained`` or a hub id (only for users with a
    network; the pipeline here never downloads). Pretrained weights exist only for ``width=1.0``.
    """
    if pretrained is None:
        return ResNet18Features(ResNetModel(resnet18_config(width, in_channels)), width)
    if width != 1.0:
        raise ValueError(f"pretrained weights {pretrained!r} exist only for width=1.0, got width={width}")
    model = ResNetModel.from_pretrained(str(pretrained))
    cfg = model.config
    if list(cfg.depths) != list(RESNET18_DEPTHS) or cfg.layer_type != "basic":
        raise ValueError(f"{pretrained!r} is not a ResNet-18 (depths={cfg.depths}, "
                         f"layer_type={cfg.layer_type}); expected depths {list(RESNET18_DEPTHS)}, basic")
    if cfg.num_channels != in_channels:
        raise ValueError(f"{pretrained!r} takes {cfg.num_channels} channels, asked for {in_channels}")
    return ResNet18Features(model, width)
