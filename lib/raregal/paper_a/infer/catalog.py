"""Cutouts → catalog rows with a bundle: the per-galaxy science of a survey run, without Dask.

Columns of a catalog part (float32 but ``id``):

- ``id``; ``latent_1`` … ``latent_5``: μ of the physics CVAE (orientation [rad], z, log M*, log SFR,
  morphology: eq. 2 of Gagliano & Villar 2023 ties latents 1-4 to these quantities);
- ``z``, ``logmstar`` [log10 M☉], ``logsfr`` [log10 M☉/yr]: the bundle's calibration of the latents;
- ``<q>_lo68``, ``<q>_hi68``, ``<q>_lo95``, ``<q>_hi95``: the calibrated intervals (:mod:`.intervals`);
- ``orientation`` [rad]: the measured major-axis angle of the central source (02_preprocess's recipe,
  CCW from +x, in [-π/2, π/2));
- ``p_<class>``: the SVM's probabilities (normal, green_pea, red_spiral);
- ``recon_error``: mean squared difference per pixel between the eq. 1 image and its reconstruction
  from μ (large for cutouts unlike the training galaxies).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.paper_a.infer import steps
from raregal.paper_a.infer.calibration import QUANTITIES
from raregal.paper_a.infer.shards import Drop

LATENTS = tuple(f"latent_{k + 1}" for k in range(5))


def level_tag(level: float) -> str:
    return f"{round(100 * level):d}"


def columns(bundle) -> list[str]:
    """The catalog columns a bundle produces, in order."""
    cols = ["id", *LATENTS[:bundle.model.arch.latent_dim], *QUANTITIES]
    for q in QUANTITIES:
        for lv in bundle.intervals.levels:
            cols += [f"{q}_lo{level_tag(lv)}", f"{q}_hi{level_tag(lv)}"]
    return cols + ["orientation"] + [f"p_{c}" for c in bundle.svm.classes_] + ["recon_error"]


def empty_frame(bundle) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "id" else np.float32) for c in columns(bundle)})


def catalog_rows(bundle, ids, mu, sigma, recon_error, orientation) -> pd.DataFrame:
    """Catalog rows from the encoder's outputs (μ, σ per latent) for kept galaxies."""
    est = bundle.calibration.predict(mu)
    sig = bundle.calibration.sigma(sigma)
    data = {"id": np.asarray(ids, np.int64)}
    data.update({name: mu[:, k] for k, name in enumerate(LATENTS[:mu.shape[1]])})
    data.update({q: est[q] for q in QUANTITIES})
    for q in QUANTITIES:
        for lv, (lo, hi) in bundle.intervals.bounds(est[q], sig[q], q).items():
            data[f"{q}_lo{level_tag(lv)}"], data[f"{q}_hi{level_tag(lv)}"] = lo, hi
    data["orientation"] = orientation
    proba = bundle.svm.predict_proba(np.asarray(mu, np.float64)) if len(mu) else \
        np.zeros((0, len(bundle.svm.classes_)))
    data.update({f"p_{c}": proba[:, k] for k, c in enumerate(bundle.svm.classes_)})
    data["recon_error"] = recon_error
    frame = pd.DataFrame(data)
    return frame.astype({c: np.float32 for c in frame.columns if c != "id"})[columns(bundle)]


def infer_block(bundle, shard_name: str, ids: np.ndarray, images: np.ndarray,
                reconstruction: bool = True) -> tuple[pd.DataFrame, list[Drop]]:
    """Screen, normalise (eq. 1), resize, encode and catalogue one block of raw cutouts."""
    pre = bundle.preprocess
    reasons, orientation = steps.screen(images, pre["orientation_method"]) if len(images) else \
        (np.zeros(0, object), np.zeros(0))
    drops = [Drop(shard_name, int(i), str(r)) for i, r in zip(ids, reasons) if r]
    keep = reasons == ""
    if not keep.any():
        return empty_frame(bundle), drops
    x = steps.model_input(images[keep], bundle.band_max_mean, float(pre["beta"]), int(pre["size"]))
    mu, sigma, err = steps.run_encoder(bundle.model, bundle.encoder, x, reconstruction=reconstruction)
    return catalog_rows(bundle, ids[keep], mu, sigma, err, orientation[keep]), drops
