"""Batched kornia augmentations for galaxy images, used for SimCLR views and classifier training.

A galaxy has no preferred orientation, so rotations by any angle and both flips are free; colour
jitter is for SimCLR only (Ma et al. 2025 Appendix A), milder than ImageNet SimCLR because a galaxy's
colour is morphology (red bulges, blue arms). Blur and pixel noise stand for what changes from one
observation of a galaxy to another (seeing, depth) without changing its morphology.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from raregal.paper_b.simclr.model import SimCLRSettings


class _ClampUnit(nn.Module):
    """Keep augmented pixels in [0, 1], the encoder's input range (noise can step outside it)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.clamp(0.0, 1.0)


def galaxy_augment(image_size: int, crop_scale: tuple[float, float], rotation_deg: float = 180.0,
                   jitter: tuple[float, float, float, float] | None = None,
                   jitter_p: float = 0.0, crop_ratio: tuple[float, float] = (0.75, 4 / 3),
                   blur_sigma: tuple[float, float] | None = None, blur_p: float = 0.0,
                   noise_std: float = 0.0, noise_p: float = 0.0) -> nn.Module:
    """Batched kornia augmentations for galaxies (no preferred orientation): random resized crop,
    h/v flips, rotation, and optional colour jitter, Gaussian blur and Gaussian pixel noise.

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
    crop_ratio : (float, float)
        Range of the crop's aspect ratio (width / height) before it is resized to a square; (1, 1)
        keeps every galaxy's axis ratio, which separates round, in-between and cigar-shaped ones.
    blur_sigma : (float, float), optional
        Range of the Gaussian blur's sigma in output pixels (a worse seeing); None: no blur.
    blur_p : float
        Probability that an image is blurred.
    noise_std : float
        Standard deviation of added Gaussian pixel noise (pixel values in [0, 1]); 0: none.
    noise_p : float
        Probability that an image gets noise.
    """
    from kornia import augmentation

    steps = [augmentation.RandomResizedCrop((image_size, image_size), scale=crop_scale, ratio=crop_ratio),
             augmentation.RandomHorizontalFlip(),
             augmentation.RandomVerticalFlip(),
             augmentation.RandomRotation(degrees=rotation_deg, p=1.0)]
    if jitter is not None and jitter_p > 0:
        steps.append(augmentation.ColorJitter(*jitter, p=jitter_p))
    if blur_sigma is not None and blur_p > 0:
        kernel = 2 * int(3 * blur_sigma[1] + 0.5) + 1  # ±3 sigma of the widest blur
        steps.append(augmentation.RandomGaussianBlur(kernel, blur_sigma, p=blur_p))
    if noise_std > 0 and noise_p > 0:
        steps.append(augmentation.RandomGaussianNoise(std=noise_std, p=noise_p))
    pipeline = augmentation.AugmentationSequential(*steps)
    return nn.Sequential(pipeline, _ClampUnit()) if noise_std > 0 and noise_p > 0 else pipeline


def make_augment(settings: "SimCLRSettings") -> nn.Module:
    """The SimCLR views: :func:`galaxy_augment` with the settings' crop, rotation, colour jitter,
    blur and noise."""
    return galaxy_augment(settings.image_size, settings.crop_scale, settings.rotation_deg,
                          settings.jitter, settings.jitter_p, settings.crop_ratio,
                          settings.blur_sigma, settings.blur_p, settings.noise_std, settings.noise_p)
