"""The (tag prompt, galaxy image) pairs the diffusion model trains on, and the batch of each step.

Why one module: which galaxies train the model is decided in notebook 07 (``in_diffusion_train``);
here those rows are read at the training resolution (rows without tags or with an unreadable image are
dropped and counted, never silently; Ma et al. 2025 §3.1), cached as VAE latents with their tags
(:class:`TrainingSet`), and drawn per step (:func:`draw_batch`) from generators seeded by
``(seed, step)`` only, so a resumed run and every rank of a multi-process run draw the same batch.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from raregal.core import training


@dataclass
class TrainingSet:
    """Cached VAE latents (N, 2, C, h, w: posterior mean and std) and each image's tag phrases."""

    latents: torch.Tensor
    tags: list[list[str]]
    ids: list
    _weights: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if self.latents.ndim != 5 or self.latents.shape[1] != 2:
            raise ValueError(f"latents must be (N, 2, C, h, w), got {tuple(self.latents.shape)}")
        if not (len(self.latents) == len(self.tags) == len(self.ids)):
            raise ValueError(f"latents ({len(self.latents)}), tags ({len(self.tags)}) and ids "
                             f"({len(self.ids)}) must have one row per image")
        empty = [i for i, t in zip(self.ids, self.tags) if not t]
        if empty:
            raise ValueError(f"{len(empty)} training images have no tags (first: {empty[:5]}); "
                             "drop them (and count them) before building the training set")

    def sampling_weights(self, tag_balance: float) -> np.ndarray | None:
        """Draw probabilities that favour images carrying rare tags: each image weighs
        (1 / count of its rarest tag) ** ``tag_balance``; 0 → None (uniform, as in the paper)."""
        if tag_balance == 0:
            return None
        if tag_balance not in self._weights:
            counts = Counter(t for tags in self.tags for t in set(tags))
            w = np.array([min(counts[t] for t in tags) for tags in self.tags], float) ** -float(tag_balance)
            self._weights[tag_balance] = w / w.sum()
        return self._weights[tag_balance]


def shuffled_caption(tags: Sequence[str], rng: np.random.Generator) -> str:
    """Tags shuffled per sample (Ma et al. 2025 §2), so the model learns each phrase, not one word order."""
    order = rng.permutation(len(tags))
    return ", ".join(tags[i] for i in order)


def step_rngs(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch generators of one step: a resumed run draws exactly what a straight run draws."""
    rng = np.random.default_rng([seed, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return rng, gen


@dataclass
class Batch:
    """The global batch of one step: image indices, sampled latents, captions, noise and timesteps."""

    indices: np.ndarray
    latents: torch.Tensor
    captions: list[str]
    noise: torch.Tensor
    timesteps: torch.Tensor

    def shard(self, accelerator) -> "Batch":
        """This rank's share (core.training.shard_of_global_batch of every field)."""
        return Batch(*(training.shard_of_global_batch(v, accelerator) for v in
                       (self.indices, self.latents, self.captions, self.noise, self.timesteps)))


def draw_batch(data: TrainingSet, step: int, settings,
               caption_fn: Callable[[Sequence[str], np.random.Generator], str] = shuffled_caption,
               num_train_timesteps: int = 1000) -> Batch:
    """The global batch of step ``step``: indices, latents (mean + std·ε of the cached posterior),
    captions (dropped with ``uncond_prob``), then the ε noise and the timesteps of the DDPM forward
    process, all from :func:`step_rngs` — the same on every rank and in a resumed run. ``settings``: a
    ``finetune.FinetuneSettings`` (seed, batch_size, tag_balance, uncond_prob are read)."""
    rng, gen = step_rngs(settings.seed, step)
    idx = rng.choice(len(data.latents), size=min(settings.batch_size, len(data.latents)), replace=False,
                     p=data.sampling_weights(settings.tag_balance))
    cached = data.latents[torch.as_tensor(idx)]
    latents = cached[:, 0] + cached[:, 1] * torch.randn(cached[:, 0].shape, generator=gen)
    drop = rng.random(len(idx)) < settings.uncond_prob
    captions = ["" if d else caption_fn(data.tags[i], rng) for i, d in zip(idx, drop)]
    noise = torch.randn(latents.shape, generator=gen)
    timesteps = torch.randint(0, num_train_timesteps, (len(latents),), generator=gen)
    return Batch(idx, latents, captions, noise, timesteps)


def tag_caption(tags: Sequence[str], rng: np.random.Generator) -> str:
    """Training caption of a galaxy: its tag phrases in a fresh random order (gz2_labels wording)."""
    from raregal.paper_b.labels import prompt_from_tags

    return prompt_from_tags(tags, rng)


def training_rows(tag_table: pd.DataFrame, max_images: int | None = None,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of ``tags.parquet`` with ``in_diffusion_train`` (optionally a seeded subsample) and a drop
    table (id, reason) of flagged rows that cannot be used (no tags)."""
    missing = {"dr7objid", "tags", "in_diffusion_train"} - set(tag_table.columns)
    if missing:
        raise ValueError(f"tag table lacks columns {sorted(missing)} (contract: CONTRIBUTING.md)")
    rows = tag_table[tag_table["in_diffusion_train"].astype(bool)]
    empty = rows["tags"].fillna("").str.len() == 0
    drops = pd.DataFrame({"id": rows.loc[empty, "dr7objid"], "reason": "no tags"})
    rows = rows[~empty]
    if max_images is not None and len(rows) > max_images:
        rows = rows.sample(n=max_images, random_state=seed).sort_index()
    return rows.reset_index(drop=True), drops


def load_training_images(tag_table: pd.DataFrame, images_from, resolution: int,
                         max_images: int | None = None, seed: int = 0):
    """uint8 images (N, R, R, 3), ids, tag lists and the drop table (no tags, missing/unreadable file).

    ``images_from``: the run's :class:`raregal.core.image_store.ImageStore` (images at the profile's
    field of view, decoded once) or a folder of ``<id>.jpg`` read whole (benchmarks).
    """
    from raregal.core.images import read_images

    rows, drops = training_rows(tag_table, max_images, seed)
    ids = rows["dr7objid"].tolist()
    batch = (images_from.read(ids, size=resolution) if hasattr(images_from, "read")
             else read_images(images_from, ids, size=resolution))
    kept = rows.set_index("dr7objid").loc[batch.ids]
    tags = [t.split("|") for t in kept["tags"]]
    all_drops = pd.concat([drops, batch.drops], ignore_index=True)
    if len(batch.ids) == 0:
        raise ValueError(f"no training image could be read from {getattr(images_from, 'image_dir', images_from)} "
                         f"({len(all_drops)} dropped: {all_drops.reason.value_counts().to_dict()})")
    return batch.images, list(batch.ids), tags, all_drops
