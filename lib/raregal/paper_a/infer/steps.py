"""What happens to one block of survey cutouts: drop screening, orientation, eq. 1, resize, encode.

Why one module: the paper-A modules (preprocess, orientation, latents, cvae, anomalies) are the
reference for every step, and their names may move between them; importing them here and nowhere
else in this package keeps the survey path identical to the notebooks' path (same functions, same
numbers) and makes a rename a one-line fix.
"""
from __future__ import annotations

import numpy as np
import torch

from raregal.core.images import resize
from raregal.paper_a.anomalies import ANOMALY_CLASSES, NORMAL, rbf_pipeline
from raregal.paper_a.cvae.model import ConvVAE, load_model
from raregal.paper_a.cvae.train import models_dir
from raregal.paper_a.latents import ENCODE_CHUNK, fast_encoder, latent_columns, load_latents
from raregal.paper_a.orientation import orientation_fast, orientation_photutils
from raregal.paper_a.preprocess import (
    BANDS,
    MAX_CENTRE_DIST,
    RAW_SIZE,
    cutout_problems,
    load_norm,
    load_processed,
    normalise,
)
from raregal.paper_a.values import EQ1_BETA as BETA

__all__ = ["ANOMALY_CLASSES", "BANDS", "BETA", "ENCODE_CHUNK", "MAX_CENTRE_DIST", "NORMAL", "RAW_SIZE",
           "ConvVAE", "fast_encoder", "latent_columns", "load_latents", "load_model", "load_norm",
           "load_processed", "model_input", "models_dir", "rbf_pipeline", "run_encoder", "screen"]

ORIENTATION_METHODS = ("fast", "photutils")


def screen(batch: np.ndarray, orientation_method: str = "fast") -> tuple[np.ndarray, np.ndarray]:
    """Drop reason ("" = usable) and orientation [rad] of each cutout of a (N, 3, H, W) batch.

    The checks of 02_preprocess, in its order: pixel problems first (non-finite, all zero, missing
    band, saturated), then no detected source within ``MAX_CENTRE_DIST`` px of the centre. With
    ``orientation_method="photutils"`` the paper's photutils value replaces the fast one where it finds
    the source (as 02_preprocess does), at ≈60 ms per galaxy.
    """
    if orientation_method not in ORIENTATION_METHODS:
        raise ValueError(f"orientation method must be one of {ORIENTATION_METHODS}, got {orientation_method!r}")
    reasons = cutout_problems(batch)
    fast = orientation_fast(batch if not (reasons == "non_finite").any() else np.where(np.isfinite(batch), batch, 0))
    reasons[(reasons == "") & ~(fast["centre_dist"].to_numpy() <= MAX_CENTRE_DIST)] = "no_central_source"
    orientation = fast["orientation"].to_numpy(np.float64)
    if orientation_method == "photutils":
        for i in np.flatnonzero(reasons == ""):
            value = orientation_photutils(batch[i])["orientation"]
            if np.isfinite(value):
                orientation[i] = value
    return reasons, orientation


def model_input(batch: np.ndarray, band_max_mean, beta: float, size: int) -> np.ndarray:
    """Eq. 1 with the training ⟨max⟩ per band, then the resize to the CVAE's input size."""
    return resize(normalise(batch, band_max_mean, beta), size)


def run_encoder(model: ConvVAE, encoder: torch.nn.Module, images: np.ndarray,
                chunk: int = ENCODE_CHUNK, reconstruction: bool = True) -> tuple[np.ndarray, ...]:
    """(μ, σ, reconstruction error) of normalised images (N, 3, size, size).

    μ and σ = exp(½ log σ²) come from one pass of the folded encoder (:func:`fast_encoder`, the same
    μ as :func:`raregal.paper_a.latents.encode`); the reconstruction error is the mean squared
    difference per pixel between the image and the decoder's image of μ (the eq. 2 reconstruction
    term, per pixel), NaN when ``reconstruction`` is False (it costs a decoder pass).
    """
    d = model.arch.latent_dim
    n = len(images)
    mu, sigma = np.empty((n, d), np.float32), np.empty((n, d), np.float32)
    err = np.full(n, np.nan, np.float32)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    with torch.inference_mode():
        for i in range(0, n, chunk):
            xb = x[i:i + chunk].contiguous(memory_format=torch.channels_last)
            h = encoder(xb)
            mu[i:i + chunk] = h[:, :d].numpy()
            sigma[i:i + chunk] = torch.exp(0.5 * h[:, d:2 * d]).numpy()
            if reconstruction:
                err[i:i + chunk] = (model.decode(h[:, :d]) - xb).pow(2).flatten(1).mean(1).numpy()
    return mu, sigma, err
