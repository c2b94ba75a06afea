"""Images → the arms' *views*, one way per profile choice (the ``classifiers.mode`` profile value).

- ``finetune``: the whole network (``raregal.paper_b.backbone.build_resnet18``) is trained on images,
  with kornia augmentation applied per batch (the setting of Ma et al. 2025 §4.2).
- ``frozen``: a trained encoder (the SimCLR trunk of notebook 09) is frozen; each image is embedded as
  ``n_views`` kornia-augmented views once, and only the head is trained on those features. Orders of
  magnitude cheaper, so the many small classifiers fit the CPU budget.
- ``last_block``: between the two — each arm trains its own copy of the SimCLR trunk in which only the
  last ResNet stage and the head learn (the earlier stages and their BatchNorm statistics fixed), on
  images with kornia augmentation per batch as ``finetune``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from raregal.paper_b.classifiers import caches
from raregal.paper_b.classifiers.model import (
    BinaryClassifier,
    head_classifier,
    last_block_classifier,
    make_augment,
    resnet_classifier,
)

MODES = ("frozen", "finetune", "last_block")
IMAGE_MODES = ("finetune", "last_block")  # the views are the images, augmented per batch


@torch.no_grad()
def embed_views(images: Any, encode: Callable[[torch.Tensor], Any], n_views: int,
                augment: nn.Module | None = None, batch_size: int = 256, seed: int = 0) -> np.ndarray:
    """``(n_views, N, D)`` features: view 0 of the images as they are, the others augmented (kornia)
    — the ``frozen`` mode's stand-in for per-batch augmentation."""
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    if n_views > 1 and augment is None:
        raise ValueError("n_views > 1 needs an augmentation")
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).float()
    torch.manual_seed(seed)
    views = []
    for k in range(n_views):
        feats = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            feats.append(np.asarray(encode(xb if k == 0 else augment(xb)), dtype=np.float32))
        views.append(np.concatenate(feats) if feats else np.zeros((0, 0), np.float32))
    return np.stack(views)


def encoder_views(encoder: nn.Module, store: Any, ids: Sequence[int], image_size: int,
                  n_views: int, seed: int = 0, batch_size: int = 512
                  ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Frozen-encoder features of the catalog images of ``store``
    (:class:`raregal.core.image_store.ImageStore`), ``(n_views, N_read, D)``, view 0 plain and the
    others augmented; returns ``(views, ids_read, drops)`` — unreadable images are listed, not lost."""
    from raregal.core.images import to_tensor

    encoder.eval()
    augment = make_augment(image_size) if n_views > 1 else None
    parts, kept, drops = [], [], []
    for k, batch in enumerate(store.iter_batches(list(ids), size=image_size, batch_size=batch_size)):
        drops.append(batch.drops)
        if len(batch.ids) == 0:
            continue
        x = to_tensor(batch.images)
        parts.append(embed_views(x, lambda b: encoder(b).numpy(), n_views, augment,
                                 batch_size=256, seed=seed + k))
        kept.append(np.asarray(batch.ids, np.int64))
    if not parts:
        raise ValueError(f"no image of {len(ids)} could be read from {store.image_dir}")
    return np.concatenate(parts, axis=1), np.concatenate(kept), pd.concat(drops, ignore_index=True)


@dataclass
class Featurizer:
    """Turns images into the *views* the arms train on, and builds the arms' models.

    ``frozen``: ``encoder`` (frozen) features of ``n_views`` views, a linear head per arm.
    ``finetune``: the images themselves (one view), a fresh ResNet-18 of ``width`` per arm, kornia
    augmentation per batch (:attr:`augment`).
    ``last_block``: the images (one view, augmented per batch), per arm a copy of ``encoder`` whose
    last stage and head train (:func:`raregal.paper_b.classifiers.model.last_block_classifier`).
    """

    mode: str
    image_size: int
    n_views: int = 1
    width: float | None = None
    encoder: nn.Module | None = None
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode in ("frozen", "last_block") and self.encoder is None:
            raise ValueError(f"{self.mode} mode needs a trained encoder (the SimCLR trunk of notebook 09)")
        if self.mode == "finetune" and (self.width is None or self.n_views != 1):
            raise ValueError("finetune mode needs a width and n_views=1 (it augments per batch)")
        if self.mode == "last_block":
            if self.n_views != 1:
                raise ValueError(f"last_block mode needs n_views=1 (it augments per batch), got "
                                 f"{self.n_views}: set classifiers.n_views to 1")
            last_block_classifier(self.encoder)  # a trunk without ResNet stages fails here, not per arm

    @property
    def augment(self) -> nn.Module | None:
        return make_augment(self.image_size) if self.mode in IMAGE_MODES else None

    def make_model(self) -> BinaryClassifier:
        """A fresh classifier for one arm (``last_block``: its own copy of the trunk)."""
        if self.mode == "frozen":
            return head_classifier(self.encoder.feature_dim)
        if self.mode == "last_block":
            return last_block_classifier(self.encoder)
        return resnet_classifier(self.width)

    def images(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) → views (resized to ``image_size``)."""
        from raregal.core.images import resize, to_tensor

        x = to_tensor(images)
        if x.shape[-1] != self.image_size:
            x = resize(x, self.image_size).clamp_(0, 1)
        if self.mode in IMAGE_MODES:
            return x.numpy()[None]
        self.encoder.eval()
        return embed_views(x, lambda b: self.encoder(b).numpy(), self.n_views,
                           make_augment(self.image_size) if self.n_views > 1 else None, seed=self.seed)

    def cache_key(self, ids: Sequence[int], images: str = "") -> str:
        """What the catalog's views depend on: settings, the ids asked for, the images (the store's
        fingerprint: field of view, catalog, files) and the encoder's weights."""
        return json.dumps({"mode": self.mode, "size": self.image_size, "views": self.n_views,
                           "images": images,
                           "seed": self.seed, "n": len(ids),
                           "ids_sum": int(np.sum(np.asarray(ids, np.int64) % 1000003)),
                           "encoder": sum(float(p.detach().double().sum()) for p in self.encoder.parameters())
                           if self.encoder is not None else None})

    def catalog(self, store: Any, ids: Sequence[int], cache: Any = None
                ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Views of the catalog images of ``store`` (:class:`raregal.core.image_store.ImageStore`)
        ``(V, N_read, ...)``, the ids read, and the drop table; kept in ``cache`` (npz) for the next
        notebook when the ids, images and settings are the same."""
        key = self.cache_key(ids, store.fingerprint(self.image_size))
        cached = caches.load_views(cache, key)
        if cached is not None:
            return cached
        if self.mode == "frozen":
            views, kept, drops = encoder_views(self.encoder, store, ids, self.image_size,
                                               self.n_views, self.seed)
        else:
            batch = store.read(list(ids), size=self.image_size)
            views, kept, drops = self.images(batch.images), np.asarray(batch.ids, np.int64), batch.drops
        if cache is not None:
            caches.save_views(cache, key, views, kept, drops)
        return views, kept, drops


def simclr_trunk(model_dir: Any, image_size: int | None = None) -> tuple[nn.Module, int]:
    """The frozen SimCLR trunk saved in ``model_dir`` (``simclr.pt`` of notebook 09, or any folder a
    pretraining wrote in that format) and the image size it was trained at [px].

    A different ``image_size`` is refused: the trunk's BatchNorm statistics and receptive fields belong
    to its training size."""
    from raregal.paper_b.simclr.model import load_simclr

    model = load_simclr(model_dir)
    size = image_size or model.settings.image_size
    if size != model.settings.image_size:
        raise ValueError(f"classifiers.image_size={size} but the SimCLR encoder was trained at "
                         f"{model.settings.image_size} px")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.encoder.eval(), size


def featurizer_from_config(cfg: Any, mode: str | None = None) -> Featurizer:
    """The profile's featurizer: ``frozen`` and ``last_block`` load the SimCLR trunk that notebook 09
    trained; ``finetune`` needs none. The image modes take one view (they augment per batch).
    ``mode`` replaces ``classifiers.mode`` (notebook 12's ``detg.classifier_mode``)."""
    c = cfg.classifiers
    mode = mode or c.mode
    if mode in ("frozen", "last_block"):
        from raregal.core.config import require

        encoder, size = simclr_trunk(require(cfg.data_dir("models", "simclr"), made_by="09_simclr"),
                                     c.image_size)
        if mode == "last_block" and c.width is not None and c.width != encoder.width:
            raise ValueError(f"classifiers.width={c.width} but the SimCLR trunk has width {encoder.width}; "
                             f"last_block trains a copy of that trunk (set classifiers.width to None)")
        return Featurizer(mode, size, c.n_views if mode == "frozen" else 1, encoder.width, encoder,
                          cfg.seed)
    return Featurizer("finetune", c.image_size, 1, c.width, None, cfg.seed)
