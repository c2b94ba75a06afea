"""Batched kornia augmentations for galaxy images, used for SimCLR views and classifier training.

A galaxy has no preferred orientation, so rotations by any angle and both flips are free; colour
jitter is for SimCLR only (Ma et al. 2025 Appendix A), milder than ImageNet SimCLR because a galaxy's
colour is morphology (red bulges, blue arms).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from raregal.paper_b.simclr.model import SimCLRSettings


def galaxy_augment(image_size: int, crop_scale: tuple[float, float], rotation_deg: float = 180.0,
                   jitter: tuple[float, float, float, float] | None = None,
                   jitter_p: float = 0.0) -> nn.Module:
    """Batched kornia augmentations for galaxies (no preferred orientation): random resized crop,
    h/v flips, rotation, and optional colour jitter (brightness, contrast, saturation, hue).

    SimCLR views use all of them; the classifiers' standard augmentation leaves the colours alone.

    Parameters
    ----------
    image_size : int
        Output side in pixels (the crop is resized to it).
    crop_scale : (float, float)
        Range of the crop's area as a fraction of the image.
    rotation_deg : float
        Rotations are drawn uniformly in ±``rotation_deg`` degrees.
    jitter : (brightness, contrast, saturation, hue), optional
        kornia ``ColorJitter`` strengths; None leaves colours untouched.
    jitter_p : float
        Probability that an image is colour-jittered.
    """
    from kornia import augmentation

    steps = [augmentation.RandomResizedCrop((image_size, image_size), scale=crop_scale),
             augmentation.RandomHorizontalFlip(),
             augmentation.RandomVerticalFlip(),
             augmentation.RandomRotation(degrees=rotation_deg, p=1.0)]
    if jitter is not None:
        steps.append(augmentation.ColorJitter(*jitter, p=jitter_p))
    return augmentation.AugmentationSequential(*steps)


def make_augment(settings: "SimCLRSettings") -> nn.Module:
    """The SimCLR views: :func:`galaxy_augment` with the settings' crop, rotation and colour jitter."""
    return galaxy_augment(settings.image_size, settings.crop_scale, settings.rotation_deg,
                          settings.jitter, settings.jitter_p)
