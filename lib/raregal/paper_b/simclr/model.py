"""The SimCLR model of Ma et al. (2025) Appendix A: settings, encoder + projection head, checkpoints.

A ResNet-18 trunk (:mod:`raregal.paper_b.backbone`, width a profile value) plus a two-layer
projection head. The settings travel in the checkpoint (``simclr.pt``), so a trained model reloads
itself; the training state beside it (``last_state/``, :func:`raregal.core.training.save_state`) names
its run with :func:`state_record`.
:func:`prepare_images` is the encoder's input contract: float RGB (N, 3, H, W) in [0, 1].
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from raregal.core.images import resize
from raregal.core.outputs import atomic_path
from raregal.paper_b.backbone import TRUNK_WEIGHTS, build_resnet18, trunk_fingerprint

CHECKPOINT = "simclr.pt"  # the trained model (load_simclr)
STATE_DIR = "last_state"  # the accelerate training state a resume continues from


# What a run did before these settings existed (records written then lack them): kornia's default
# crop aspect ratios; no blur, no noise (their defaults already say so).
SETTINGS_BEFORE_THEY_WERE_RECORDED = {"crop_ratio": (0.75, 4 / 3)}


@dataclass(frozen=True)
class SimCLRSettings:
    """Everything that fixes a SimCLR run; stored in the checkpoint so it reloads itself."""

    image_size: int = 64
    width: float = 1.0
    proj_dim: int = 128
    temperature: float = 0.5
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 10
    # Views chosen by measurement (benchmarks/simclr_recipe.py, morphology probe): square crops
    # keep the axis ratio (round vs cigar-shaped is morphology); brightness and contrast jitter left
    # out (they lowered the morphology probe), mild saturation and hue jitter kept (it raised it).
    crop_scale: tuple[float, float] = (0.4, 1.0)
    crop_ratio: tuple[float, float] = (1.0, 1.0)  # crop aspect ratios (width / height)
    rotation_deg: float = 180.0
    jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.2, 0.05)  # brightness, contrast, sat, hue
    jitter_p: float = 0.8
    blur_sigma: tuple[float, float] | None = None  # Gaussian blur sigma range in pixels (seeing)
    blur_p: float = 0.0
    noise_std: float = 0.0  # Gaussian pixel noise (depth), pixel values in [0, 1]
    noise_p: float = 0.0
    val_fraction: float = 0.1
    pretrained: str | None = None
    seed: int = 0

    def __post_init__(self):
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16 px, got {self.image_size}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (NT-Xent needs negatives), got {self.batch_size}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def same_model(self, other: "SimCLRSettings") -> bool:
        """True when only the epoch count differs (so a checkpoint can be resumed)."""
        return dataclasses.replace(self, epochs=0) == dataclasses.replace(other, epochs=0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SimCLRSettings":
        """Settings from a stored record; a key the record predates gets the value runs had then."""
        d = {**SETTINGS_BEFORE_THEY_WERE_RECORDED, **d}
        for k in ("crop_scale", "crop_ratio", "jitter", "blur_sigma"):
            if k in d and d[k] is not None:
                d[k] = tuple(d[k])
        return cls(**d)


class SimCLRModel(nn.Module):
    """Encoder (ResNet-18 trunk) + projection head; ``forward`` gives the projections z."""

    def __init__(self, settings: SimCLRSettings):
        super().__init__()
        self.settings = settings
        self.encoder = build_resnet18(settings.width, settings.pretrained)
        d = self.encoder.feature_dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, settings.proj_dim))

    @property
    def feature_dim(self) -> int:
        return self.encoder.feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


def untrained_encoder(settings: SimCLRSettings) -> SimCLRModel:
    """The network of ``settings`` with random weights drawn from ``settings.seed``: the probes' floor.

    Why its own seed: drawn from the global torch generator, the weights would depend on whether
    training ran before (a rerun that loads the trained model would get another floor).
    """
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        return SimCLRModel(settings).eval()


def prepare_images(images: Any, image_size: int) -> torch.Tensor:
    """Check a batch is float RGB (N, 3, H, W) in [0, 1]; resize (with a warning) to ``image_size``.

    uint8 input is scaled by 1/255. Wrong channel counts, channels-last arrays, NaNs or float values
    outside [0, 1] are refused with a message: they would be embedded as something they are not.
    """
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.ndim != 4:
        raise ValueError(f"expected a batch of images (N, 3, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != 3:
        hint = (" (it looks channels-last: transpose to (N, 3, H, W))" if x.shape[-1] == 3 else "")
        raise ValueError(f"expected 3 colour channels in axis 1 of (N, 3, H, W), got shape "
                         f"{tuple(x.shape)}{hint}; grey or 4-band images are not RGB galaxy images")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif not torch.is_floating_point(x):
        raise ValueError(f"expected float images in [0, 1] or uint8, got dtype {x.dtype}")
    x = x.float()
    if x.numel() and not torch.isfinite(x).all():
        raise ValueError(f"{int((~torch.isfinite(x)).flatten(1).any(1).sum())} image(s) contain NaN/inf")
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"float images must be in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]"
                         f" (0–255 data should be uint8 or divided by 255)")
    if x.shape[-2:] != (image_size, image_size):
        warnings.warn(f"resizing {x.shape[0]} image(s) from {x.shape[-2]}×{x.shape[-1]} to "
                      f"{image_size}×{image_size} px for the encoder", stacklevel=2)
        x = resize(x, image_size).clamp_(0, 1)
    return x


def base_record(settings: SimCLRSettings) -> dict | None:
    """Which pretrained trunk a run started from: ``folder`` and the SHA-256 of its weights (a local
    folder written by :func:`raregal.paper_b.backbone.save_trunk`), ``folder`` alone for a hub id,
    None for random initialisation."""
    if settings.pretrained is None:
        return None
    folder = Path(settings.pretrained)
    if not (folder / TRUNK_WEIGHTS).is_file():
        return {"folder": str(settings.pretrained), "sha256": None}
    return {"folder": str(settings.pretrained), "sha256": trunk_fingerprint(folder)}


def state_record(settings: SimCLRSettings, n_images: int) -> dict:
    """What names a run in its training state's ``hyperparameters.json``: its settings, image count
    and the pretrained base it started from (:func:`base_record`)."""
    return {"settings": dataclasses.asdict(settings), "n_images": int(n_images), "base": base_record(settings)}


def check_same_run(where: Path, saved: dict, settings: SimCLRSettings, n_images: int) -> None:
    """Refuse to continue a run (``saved``: its :func:`state_record`) with other settings (the epoch
    count aside), another number of images or a base trunk whose weights changed since: that would be
    another experiment under the same name. (Records written before the base was recorded have none.)"""
    if "settings" not in saved or "n_images" not in saved:
        raise ValueError(f"{where} is not a SimCLR training state; move it away or use resume=False")
    old = SimCLRSettings.from_dict(saved["settings"])
    if not old.same_model(settings):
        raise ValueError(f"{where} was trained with different settings ({old}); "
                         f"use another out_dir or resume=False")
    if saved["n_images"] != n_images:
        raise ValueError(f"{where} was trained on {saved['n_images']} images, got {n_images}")
    before, now = saved.get("base"), base_record(settings)
    if before is not None and now is not None and before.get("sha256") != now.get("sha256"):
        raise ValueError(f"{where} started from the base trunk {before['folder']} with weights "
                         f"{before.get('sha256')}, which are now {now.get('sha256')}: the base was "
                         f"retrained; use another out_dir or resume=False")


def save_checkpoint(path: Path, model: SimCLRModel, settings: SimCLRSettings, history: list[dict],
                    n_images: int) -> None:
    """``simclr.pt``: settings, weights (on the CPU), history and image count — the trained model,
    which :func:`load_simclr` rebuilds from its settings. What a resume needs besides (optimizer, RNG)
    is in the accelerate training state ``last_state/`` (:data:`STATE_DIR`)."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"settings": dataclasses.asdict(settings), "model": weights, "history": history,
                    "n_images": int(n_images), "base": base_record(settings)}, tmp)


def read_older_checkpoint(path: Path) -> dict | None:
    """A ``simclr.pt`` of the format written before ``last_state/`` existed (it held the optimizer
    state too, so it can still be resumed), or None when ``path`` is missing or of the current format."""
    if not path.is_file():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return ckpt if "optimizer" in ckpt else None


def load_simclr(path: Path | str) -> SimCLRModel:
    """Rebuild a trained model from ``simclr.pt`` (or its folder), in eval mode."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no SimCLR checkpoint at {path}: run notebook 09_simclr first")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    settings = SimCLRSettings.from_dict({**ckpt["settings"], "pretrained": None})
    model = SimCLRModel(settings)
    model.load_state_dict(ckpt["model"])
    model.settings = SimCLRSettings.from_dict(ckpt["settings"])
    return model.eval()
