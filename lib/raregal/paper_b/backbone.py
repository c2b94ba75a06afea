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

``pretrained`` takes a local folder written by :func:`save_trunk` at the same width (the galaxy base
the repository pretrains itself: ImageNet weights, Ma et al. 2025 Appendix A, cannot be downloaded
here), or a hub id of a transformers ResNet-18 (e.g. ``microsoft/resnet-18``, width 1.0, for users
with a network; nothing here downloads by itself).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import ResNetConfig, ResNetModel

RESNET18_HIDDEN = (64, 128, 256, 512)
RESNET18_DEPTHS = (2, 2, 2, 2)
MIN_CHANNELS = 4
TRUNK_WEIGHTS = "model.safetensors"  # what save_pretrained writes and a local pretrained folder must hold
TRUNK_ABOUT = "about.json"  # what a saved trunk was trained on (save_trunk's ``about``)


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


def _is_hub_id(name: str) -> bool:
    """``owner/model`` that is no local path: the transformers hub (only for users with a network)."""
    return not Path(name).exists() and not Path(name).is_absolute() and not name.startswith(".") \
        and name.count("/") == 1


def _check_trunk_config(cfg: ResNetConfig, where: str, width: float, in_channels: int) -> None:
    """Refuse weights that are not a ResNet-18 of ``width`` on ``in_channels`` bands, naming ``where``."""
    if list(cfg.depths) != list(RESNET18_DEPTHS) or cfg.layer_type != "basic":
        raise ValueError(f"{where!r} is not a ResNet-18 (depths={cfg.depths}, "
                         f"layer_type={cfg.layer_type}); expected depths {list(RESNET18_DEPTHS)}, basic")
    if cfg.num_channels != in_channels:
        raise ValueError(f"{where!r} takes {cfg.num_channels} channels, asked for {in_channels}")
    want = resnet18_config(width, in_channels)
    found = (cfg.embedding_size, list(cfg.hidden_sizes))
    if found != (want.embedding_size, list(want.hidden_sizes)):
        raise ValueError(f"{where!r} holds a ResNet-18 with stem {found[0]} and hidden sizes {found[1]}, "
                         f"but width={width} needs stem {want.embedding_size} and hidden sizes "
                         f"{list(want.hidden_sizes)}: use the width it was saved at or another folder")


def _kept_trunk(name: str) -> Path | None:
    """A kept base ``models/<name>`` (relative to the repository when not found here): checked against
    its model card (sha256 of every file; never a base that saw D-ETGs); None for other names."""
    from raregal.core import model_card
    from raregal.core.config import repo_root

    model_card.require_kept(name, repo_root(), rebuild="python -m raregal.pretrain simclr")
    path = Path(name)
    if not path.is_absolute() and not path.exists() and (repo_root() / path).exists():
        path = repo_root() / path
    if not path.is_dir():
        return None
    if model_card.read_card(path) is not None:
        model_card.verify(path)
    return path


def build_resnet18(width: float = 1.0, pretrained: str | Path | None = None,
                   in_channels: int = 3) -> ResNet18Features:
    """A ResNet-18 that returns pooled features; random init unless ``pretrained`` names weights.

    Parameters
    ----------
    width : float
        Channel multiplier (1.0 = 64/128/256/512 channels).
    pretrained : path or str, optional
        A local folder written by :func:`save_trunk` (or ``ResNetModel.save_pretrained``) at this
        ``width``: its ``config.json`` must give the hidden sizes of :func:`resnet18_config` and it must
        hold ``model.safetensors``. Or a hub id such as ``microsoft/resnet-18`` (width 1.0 only, for
        users with a network; the pipeline here never downloads).
    in_channels : int
        Input bands (3 for RGB).
    """
    if pretrained is None:
        return ResNet18Features(ResNetModel(resnet18_config(width, in_channels)), width)
    name = str(pretrained)
    pretrained = _kept_trunk(name)
    if pretrained is None and _is_hub_id(name):
        if width != 1.0:
            raise ValueError(f"hub weights {name!r} exist only for width=1.0, got width={width}; "
                             f"a narrower trunk loads from a local folder written by save_trunk")
        model = ResNetModel.from_pretrained(name)
    else:
        folder = Path(pretrained or name)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"pretrained trunk {name!r}: no config.json there (a folder written "
                                    f"by backbone.save_trunk is expected)")
        if not (folder / TRUNK_WEIGHTS).is_file():
            raise FileNotFoundError(f"pretrained trunk {name!r} has no weights ({TRUNK_WEIGHTS}); "
                                    f"found {sorted(p.name for p in folder.iterdir())}")
        model = ResNetModel.from_pretrained(folder)
    _check_trunk_config(model.config, name, width, in_channels)
    return ResNet18Features(model, width)


def save_trunk(model: nn.Module, folder: Path | str, about: dict[str, Any] | None = None) -> Path:
    """Save an encoder's ResNet-18 trunk so :func:`build_resnet18` (``pretrained=folder``) loads it.

    Written with ``ResNetModel.save_pretrained`` (``config.json`` + ``model.safetensors``) into a
    temporary folder renamed onto ``folder`` at the end, so a half-written trunk is never loaded.

    Parameters
    ----------
    model : nn.Module
        A :class:`ResNet18Features`, or any module whose ``encoder`` is one (a SimCLR model: its
        projection head is not saved).
    folder : path
        Destination; an existing trunk there is replaced.
    about : dict, optional
        What the trunk was trained on (settings, image count, exclusions), written as ``about.json``.

    Returns
    -------
    Path
        ``folder``.
    """
    trunk = getattr(model, "encoder", model)
    if not isinstance(trunk, ResNet18Features):
        raise TypeError(f"expected a ResNet18Features or a model with one as .encoder, got {type(model).__name__}")
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        trunk.resnet.save_pretrained(tmp, safe_serialization=True)
        if about is not None:
            (tmp / TRUNK_ABOUT).write_text(json.dumps(about, indent=1, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def trunk_fingerprint(folder: Path | str) -> str:
    """SHA-256 of a saved trunk's weights file: names the base a SimCLR run started from."""
    digest = hashlib.sha256()
    with open(Path(folder) / TRUNK_WEIGHTS, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
