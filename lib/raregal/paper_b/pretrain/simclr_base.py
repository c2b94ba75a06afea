"""Pretrain the SimCLR ResNet-18 trunk into a kept base, ``models/<name>/``.

Why: Ma et al. (2025, App. A) start SimCLR from ImageNet weights; an untrained trunk trained for a CPU
run's few epochs is no better than random features on the morphology probe. The trunk is pretrained
once on the pretraining survey (every D-ETG left out, :mod:`raregal.paper_b.pretrain.survey`) and saved
in the ``save_pretrained`` layout with a model card; a run's SimCLR starts from it (projection head fresh).
"""
from __future__ import annotations

from dataclasses import dataclass

from raregal.paper_b.pretrain import survey


@dataclass(frozen=True)
class SimclrRecipe:
    """What a SimCLR base is trained on and how (the values that built ``models/`` are the defaults)."""

    profile: str = "default"  # width and image size: the profile's simclr section
    n_galaxies: int = 150_000  # the pretraining survey (shared with the diffusion base)
    n_images: int = 50_000
    epochs: int = 6
    batch_size: int = 256
    lr: float = 1e-3
    temperature: float = 0.5
    data_seed: int = survey.DATA_SEED
