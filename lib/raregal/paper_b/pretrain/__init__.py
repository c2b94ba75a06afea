"""Pretrained galaxy bases built by this repository and kept in ``models/<name>/`` (Ma et al. 2025 start
from SD-1.5 and ImageNet weights; we cannot download them, so we pretrain our own on a mock survey).

- ``survey``: the pretraining survey (its own seed) with every dust-lane early type left out (§3.2).
- ``diffusion_base``: the tiny diffusion pipeline pretrained with the fine-tune loop.
- ``simclr_base``: a SimCLR ResNet-18 trunk (self-supervised on the survey).
- ``morphology_base``: the ResNet-18 trunk trained on the survey's morphology tags, the stand-in for the
  ImageNet weights the paper's SimCLR starts from (the default profile's SimCLR base).
- ``cli``: ``python -m raregal.pretrain diffusion|simclr|morphology``.
Loading a base checks its model card (:mod:`raregal.core.model_card`).
"""
