"""The classifier itself: a feature trunk plus one logit, its loss and its standard augmentation.

Ma et al. (2025) §4.2: one binary ResNet-18 classifier per morphology feature, trained with BCE and
Adam (lr 1e-4) under random crop, rotation and flip; the focal loss (Lin et al. 2017) is the
alternative answer to class imbalance that Table 2 compares against.

Three trunks: a fresh ResNet-18 trained whole (:func:`resnet_classifier`, the paper's), nothing on
precomputed frozen features (:func:`head_classifier`), and a copy of a trained trunk whose last stage
alone trains (:func:`last_block_classifier`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TrainSettings:
    """One classifier's training: loss ``bce`` | ``focal`` (α, γ of Lin et al. 2017), Adam ``lr``."""

    loss: str = "bce"
    lr: float = 1e-4
    epochs: int = 5
    batch_size: int = 64
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    seed: int = 0

    def __post_init__(self):
        if self.loss not in ("bce", "focal"):
            raise ValueError(f"loss must be 'bce' or 'focal', got {self.loss!r}")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got {self}")

    @classmethod
    def from_profile(cls, section, seed: int = 0) -> "TrainSettings":
        """BCE training with the ``lr``, ``epochs`` and ``batch_size`` of the profile's ``classifiers``
        section: the arms of Tables 2 and 3 and of the search all train this way."""
        return cls(lr=section.lr, epochs=section.epochs, batch_size=section.batch_size, seed=seed)


class BinaryClassifier(nn.Module):
    """``backbone`` (images → pooled features, or ``nn.Identity`` on precomputed features) + a linear
    head giving one logit. Inputs are standardised with the training set's mean and std (buffers)
    unless ``standardise_inputs`` is False: a trained trunk keeps the input scale it was trained on."""

    def __init__(self, backbone: nn.Module, feature_dim: int, standardise_inputs: bool = True):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(int(feature_dim), 1)
        self.standardise_inputs = bool(standardise_inputs)
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardise_inputs:
            x = (x - self.mean) / self.std
        return self.head(self.backbone(x)).squeeze(1)


def resnet_classifier(width: float, in_channels: int = 3,
                      build: Callable[..., nn.Module] | None = None) -> BinaryClassifier:
    """A fresh ResNet-18 (``raregal.paper_b.backbone.build_resnet18`` unless ``build`` is given) + head.

    Parameters
    ----------
    width : float
        Channel multiplier of the ResNet-18 (1.0 = the paper's 64/128/256/512 channels).
    in_channels : int
        Colour channels of the input images (unused by the default builder, which takes RGB).
    build : callable, optional
        ``build(width=...) -> nn.Module`` with a ``feature_dim`` attribute; a stand-in for tests.
    """
    if build is None:
        from raregal.paper_b.backbone import build_resnet18 as build
    net = build(width=width)
    return BinaryClassifier(net, net.feature_dim)


def head_classifier(feature_dim: int) -> BinaryClassifier:
    """A linear head on frozen, precomputed features."""
    return BinaryClassifier(nn.Identity(), feature_dim)


class LastStageTrunk(nn.Module):
    """A private copy of a trained ResNet-18 trunk in which only the last stage (and the pooling) trains.

    Every other part — the stem and the first three stages — keeps its weights and its BatchNorm
    running statistics: those parts stay in eval mode even while the model trains, so the small,
    rare-class batches of an arm cannot shift the statistics the trunk was trained with. The copy is
    the arm's own; the trunk it was made from is never changed.

    Parameters
    ----------
    encoder : nn.Module
        A :class:`raregal.paper_b.backbone.ResNet18Features` (e.g. the SimCLR trunk of notebook 09):
        images (N, 3, H, W) in [0, 1] → pooled features (N, ``feature_dim``).
    """

    def __init__(self, encoder: nn.Module):
        super().__init__()
        stages = getattr(getattr(getattr(encoder, "resnet", None), "encoder", None), "stages", None)
        if stages is None or len(stages) < 2 or not hasattr(encoder, "feature_dim"):
            raise ValueError(f"last_block needs a ResNet trunk (raregal.paper_b.backbone.ResNet18Features, "
                             f"with resnet.encoder.stages and feature_dim), got {type(encoder).__name__}")
        self.features = copy.deepcopy(encoder)
        self.feature_dim = int(encoder.feature_dim)
        for p in self.features.parameters():
            p.requires_grad_(False)
        for p in self.last_stage.parameters():
            p.requires_grad_(True)
        self.train()  # a new module trains by default; the frozen parts stay in eval mode

    @property
    def last_stage(self) -> nn.Module:
        """The stage that trains: transformers ``ResNetModel.encoder.stages[-1]``."""
        return self.features.resnet.encoder.stages[-1]

    def frozen_parts(self) -> list[nn.Module]:
        """The stem and every stage but the last: fixed weights, fixed BatchNorm statistics."""
        resnet = self.features.resnet
        return [resnet.embedder, *resnet.encoder.stages[:-1]]

    def train(self, mode: bool = True) -> "LastStageTrunk":
        super().train(mode)
        for part in self.frozen_parts():
            part.eval()  # BatchNorm keeps the trunk's running statistics, also in training
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


def last_block_classifier(encoder: nn.Module) -> BinaryClassifier:
    """A copy of the trained trunk ``encoder`` with only its last ResNet stage trainable, plus a head.

    Parameters
    ----------
    encoder : nn.Module
        The trained trunk (:class:`raregal.paper_b.backbone.ResNet18Features`); it is copied, never
        changed. Inputs are float RGB (N, 3, H, W) in [0, 1], not standardised: the frozen stages'
        BatchNorm statistics expect the scale the trunk was trained on.
    """
    trunk = LastStageTrunk(encoder)
    return BinaryClassifier(trunk, trunk.feature_dim, standardise_inputs=False)


def make_augment(image_size: int, crop_scale: tuple[float, float] = (0.8, 1.0)) -> nn.Module:
    """The paper's standard augmentation, batched: random resized crop, rotation by any angle
    (a galaxy has no preferred orientation), horizontal and vertical flips; colours untouched."""
    from raregal.paper_b.simclr.augment import galaxy_augment

    return galaxy_augment(image_size, crop_scale, rotation_deg=180.0)


def loss_value(logits: torch.Tensor, target: torch.Tensor, settings: TrainSettings) -> torch.Tensor:
    """Mean BCE, or the focal loss of Lin et al. (2017) with the settings' α and γ (kornia)."""
    if settings.loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    from kornia.losses import binary_focal_loss_with_logits

    return binary_focal_loss_with_logits(logits[:, None], target[:, None], alpha=settings.focal_alpha,
                                         gamma=settings.focal_gamma, reduction="mean")
