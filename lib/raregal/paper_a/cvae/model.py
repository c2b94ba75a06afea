"""The convolutional VAE of paper A (Gagliano & Villar 2023), topology of the authors' code.

The paper says "three convolution encoding layers, three deconvolution decoding layers, latent
dimension 5", built "using the same architecture as" J. Wu's galaxy autoencoders (the paper's
ref. 1; github.com/jwuphysics/galaxy-autoencoders). The
authors' code (trainVAE_wRotAngle.py) realises that as three encoding stages — two stride-2 3×3
convolutions (3→16→32 channels, 69→35→18 px, BatchNorm + ReLU) and a dense head to (μ, log σ²) — and
three decoding stages — a dense layer back to 32×18×18, then two stride-1 3×3 transposed convolutions
with bilinear up-sampling to 35 and 69 px, a sigmoid on the output. We keep that topology exactly;
``channels`` may be narrowed as a profile value (same topology, fewer filters).

Checkpoints carry :attr:`ConvVAE.arch`, so a checkpoint from another architecture or latent size is
refused with a clear message instead of a cryptic ``state_dict`` error.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by a model with another architecture or latent size."""


@dataclass(frozen=True)
class Arch:
    """The network's shape: latent size, the two encoder widths, image size [px] and bands; saved in
    every checkpoint so a mismatch is named, not a ``state_dict`` error."""

    latent_dim: int = 5
    channels: tuple[int, int] = (16, 32)
    image_size: int = 69
    in_channels: int = 3

    def __post_init__(self):
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if len(self.channels) != 2 or min(self.channels) < 1:
            raise ValueError(f"channels must be two positive widths (enc1, enc2), got {self.channels}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 px, got {self.image_size}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Arch":
        return cls(latent_dim=int(d["latent_dim"]), channels=tuple(int(c) for c in d["channels"]),
                   image_size=int(d["image_size"]), in_channels=int(d["in_channels"]))


def _half(n: int) -> int:
    """Output size of a 3×3, stride-2, padding-1 convolution."""
    return math.floor((n - 1) / 2) + 1


class ConvVAE(nn.Module):
    """Encoder → (μ, log σ²) of ``latent_dim`` Gaussians → decoder back to the image in [0, 1]."""

    def __init__(self, arch: Arch | None = None, **kw):
        super().__init__()
        self.arch = arch or Arch(**kw)
        a = self.arch
        c0, c1 = a.channels
        self.mid = _half(a.image_size)  # 35 for 69 px
        self.low = _half(self.mid)  # 18
        self.enc1 = nn.Sequential(nn.Conv2d(a.in_channels, c0, 3, 2, padding=1), nn.BatchNorm2d(c0), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c0, c1, 3, 2, padding=1), nn.BatchNorm2d(c1), nn.ReLU())
        self.enc3 = nn.Sequential(nn.Flatten(), nn.Linear(c1 * self.low * self.low, 2 * a.latent_dim))
        self.dec1 = nn.Sequential(nn.Linear(a.latent_dim, c1 * self.low * self.low),
                                  nn.Unflatten(1, (c1, self.low, self.low)), nn.BatchNorm2d(c1), nn.ReLU())
        self.dec2 = nn.Sequential(nn.ConvTranspose2d(c1, c0, 3, 1, padding=1), nn.BatchNorm2d(c0), nn.ReLU())
        self.dec3 = nn.Sequential(nn.ConvTranspose2d(c0, a.in_channels, 3, 1, padding=1), nn.Sigmoid())
        # channels_last roughly halves a CPU training step (transposed convolutions take the oneDNN
        # path); the maths is unchanged.
        self.to(memory_format=torch.channels_last)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²), each (N, latent_dim)."""
        h = self.enc3(self.enc2(self.enc1(x.contiguous(memory_format=torch.channels_last))))
        h = h.view(-1, 2, self.arch.latent_dim)
        return h[:, 0, :], h[:, 1, :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Image (N, bands, size, size) in [0, 1] from latents (N, latent_dim)."""
        dense, unflatten, norm, act = self.dec1
        # channels-last before BatchNorm/ReLU, not after: their backward then runs in one layout
        # (a training step ~5-8 % faster on this CPU); the same function of the same weights.
        h = act(norm(unflatten(dense(z)).contiguous(memory_format=torch.channels_last)))
        h = functional.interpolate(h, size=(self.mid, self.mid), mode="bilinear")
        h = self.dec2(h)
        h = functional.interpolate(h, size=(self.arch.image_size, self.arch.image_size), mode="bilinear")
        return self.dec3(h)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor,
                       noise: torch.Tensor | None = None) -> torch.Tensor:
        """A draw μ + ε·σ from N(μ, σ²) in training (ε: ``noise``, else drawn here); μ itself in eval mode.

        ``noise`` lets a multi-process loop draw ε for the global batch on every rank and pass each
        rank its share, so a galaxy gets the same ε whatever the number of processes."""
        if self.training:
            eps = torch.randn_like(mu) if noise is None else noise.to(mu)
            return mu + eps * torch.exp(0.5 * logvar)
        return mu

    def forward(self, x: torch.Tensor,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction, μ, log σ²) of images (N, bands, size, size); ``noise``: :meth:`reparameterize`."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, noise)), mu, logvar


def check_arch(saved: dict, expected: Arch, where: str = "checkpoint") -> Arch:
    """Raise :class:`CheckpointMismatchError` naming every field that differs."""
    got = Arch.from_dict(saved)
    if got != expected:
        diffs = [f"{k}: checkpoint {v!r} vs model {expected.as_dict()[k]!r}"
                 for k, v in got.as_dict().items() if v != expected.as_dict()[k]]
        raise CheckpointMismatchError(f"{where} was written by another CVAE architecture ({'; '.join(diffs)}); "
                                      "retrain (notebook 03) or build the model with the checkpoint's arch")
    return got


def load_model(path, arch: Arch | None = None) -> tuple[ConvVAE, dict]:
    """Load a checkpoint written by :mod:`raregal.paper_a.cvae.train` (eval mode); returns (model, payload).

    With ``arch`` given, a checkpoint of another architecture/latent size is a clear error.
    """
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or "arch" not in payload or "state_dict" not in payload:
        raise CheckpointMismatchError(f"{path} is not a raregal CVAE checkpoint (no 'arch'/'state_dict'); "
                                      "a bare state_dict from another code base cannot be checked — retrain")
    saved = Arch.from_dict(payload["arch"])
    if arch is not None:
        check_arch(payload["arch"], arch, where=str(path))
    model = ConvVAE(saved)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload
