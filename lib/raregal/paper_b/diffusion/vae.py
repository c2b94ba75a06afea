"""The VAE side of the pipeline: images to the model's range, tiny-VAE pre-training, latent encoding.

Why its own module: the fine-tune never trains the VAE (it is frozen and its latents are cached), and
only the tiny profile pre-trains one (SD-1.5's VAE is used as released), so this is the step between
the survey images and the diffusion training set. Encoding and pre-training run on CUDA when present
(:func:`components.compute_device`); the VAE is moved back where it was afterwards.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from raregal.core import training
from raregal.paper_b.diffusion.components import on_device


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) or float [0, 1] (N, 3, H, W) images → float tensor (N, 3, H, W) in [-1, 1]."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.ndim != 4:
        raise ValueError(f"images must be a 4-d batch, got shape {tuple(x.shape)}")
    if x.shape[-1] == 3 and x.shape[1] != 3:
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] != 3:
        raise ValueError(f"images need 3 colour channels, got shape {tuple(x.shape)}")
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.min() < -1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"float images must lie in [0, 1]; got [{float(x.min()):.3g}, {float(x.max()):.3g}]")
    return x.clamp(0, 1) * 2 - 1


def pretrain_vae(vae, images, steps: int, batch_size: int = 32, lr: float = 2e-3,
                 kl_weight: float = 1e-6, seed: int = 0, progress: bool = False,
                 device: str | torch.device | None = None) -> list[float]:
    """Train the tiny AutoencoderKL on survey images (L1 + tiny KL, AdamW, one-cycle lr), then set its
    ``scaling_factor`` to 1 / std of the latents, as SD did, so the diffusion model sees unit variance."""
    from tqdm.auto import tqdm

    x_all = to_model_range(images)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    with on_device(vae, device) as dev:
        opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=1e-4)
        sched = training.warmup_cosine_schedule(opt, max(1, steps // 10), max(steps, 1))
        vae.train()
        for _ in tqdm(range(steps), desc="VAE", disable=not progress):
            idx = torch.randint(len(x_all), (min(batch_size, len(x_all)),), generator=gen)
            x = x_all[idx].to(dev)
            post = vae.encode(x).latent_dist
            rec = vae.decode(post.sample(generator=gen)).sample  # CPU generator: same draws on any device
            loss = F.l1_loss(rec, x) + kl_weight * post.kl().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        vae.eval()
        vae.requires_grad_(False)
        with torch.no_grad():
            lat = torch.cat([vae.encode(x_all[i:i + 256].to(dev)).latent_dist.mean.cpu()
                             for i in range(0, len(x_all), 256)])
    vae.register_to_config(scaling_factor=float(1.0 / lat.std().clamp_min(1e-6)))
    return losses


def encode_batch_size(image_size: int, pixels_per_batch: int = 2**21) -> int:
    """Images per VAE-encoder batch: 128 at 64 px, 11 at 424 px, so SD-1.5's encoder at 424 px stays
    within a 24-GB GPU (the paper's RTX 3090) instead of needing tens of GB for activations."""
    return int(min(128, max(1, pixels_per_batch // image_size**2)))


@torch.no_grad()
def encode_latents(vae, images, batch_size: int | None = None,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Scaled latents (mean and std of the posterior), on the CPU, for caching: the VAE is frozen during
    fine-tuning, so each training step samples ``mean + std·ε`` instead of running the encoder.
    ``batch_size`` None: :func:`encode_batch_size` of the image size."""
    x_all = to_model_range(images)
    batch_size = batch_size or encode_batch_size(x_all.shape[-1])
    vae.eval()
    out = []
    with on_device(vae, device) as dev:
        for i in range(0, len(x_all), batch_size):
            dist = vae.encode(x_all[i:i + batch_size].to(dev)).latent_dist
            out.append((torch.stack([dist.mean, dist.std]) * vae.config.scaling_factor).cpu())
    return torch.cat(out, dim=1).transpose(0, 1).contiguous()  # (N, 2, C, h, w)


@torch.no_grad()
def reconstruction_error(vae, images, n: int = 64, device: str | torch.device | None = None) -> float:
    """Mean |x − decode(encode(x))| in [0, 1] units: how much the VAE blurs the galaxies."""
    x = to_model_range(np.asarray(images)[:n] if not torch.is_tensor(images) else images[:n])
    step = encode_batch_size(x.shape[-1])
    with on_device(vae, device) as dev:
        rec = torch.cat([vae.decode(vae.encode(x[i:i + step].to(dev)).latent_dist.mean).sample.cpu()
                         for i in range(0, len(x), step)])
    return float((rec.clamp(-1, 1) - x).abs().mean() / 2)
