"""Fresh mock galaxies, never seen in training, put through the survey path: the held-out sample on
which the coverage of the survey intervals is measured (notebook 04's ``A-table-intervals``).

Why: the survey tool's goal is coverage of the 68 % / 95 % intervals within ±2 % of nominal. Half of
the default run's 1,188 validation galaxies knows a coverage only to ±1.9 % (1σ binomial), so the
validation split cannot decide that goal. On the mock, labelled galaxies are free: this module draws
thousands of new ones from the same population as the run's normal galaxies (validation is drawn
from the normal galaxies only) with a seed derived from the run's (:func:`held_out_seed`, a stream no
run seed uses), renders them exactly as ``raregal.mock.survey.write_survey`` would for that seed, and
passes them through the run's own preprocessing and encoder — the drop checks and orientation, eq. 1
with the training ⟨max⟩, the resize, the folded encoder (:mod:`.steps`, the functions
:func:`.catalog.infer_block` calls). Dropped cutouts are counted by reason, never silently lost.

The draw has two parts (column ``role``): ``calibration`` galaxies join the validation galaxies in
calibrating the intervals, and ``test`` galaxies score them. Why more calibration galaxies: the
68 % coverage of one calibration on the default run's 1,188 validation galaxies scatters by 1.4 %
(200 random calibrations from 39,598 fresh galaxies), so ±2 % fails by chance in about two runs out
of five; 6,000 more galaxies bring the scatter to ≈0.6 %. A real survey calibrates on its
validation split alone, and its coverage is known only to that scatter.

Real data has no such galaxies; there the validation halves remain the only held-out sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from raregal.paper_a.infer import steps
from raregal.paper_a.infer.calibration import QUANTITIES

#: the SeedSequence key that separates the held-out stream from every run's own survey
HELD_OUT_KEY = 20230404
APERTURE_RADIUS_PX = 8.0  # notebook 04's photometry baseline aperture (0.262"/px)


def held_out_seed(seed: int) -> int:
    """An integer seed for the held-out mock galaxies of the run with ``seed``: a 31-bit draw of
    ``SeedSequence([seed, HELD_OUT_KEY])``, never equal to ``seed`` itself (so never the run's survey)."""
    derived = int(np.random.SeedSequence([int(seed), HELD_OUT_KEY]).generate_state(1)[0] >> 1)
    return derived if derived != seed else derived + 1


def held_out_size(cfg, n: int | None = None) -> int:
    """Held-out galaxies for a run: ``n``, or twice the profile's normal galaxies (smoke 600, default
    12,000: ≈45 s of rendering and screening on one core, SE of a 68 % coverage ±0.43 %)."""
    n = 2 * int(cfg.survey_a.n_normal) if n is None else int(n)
    if n < 2:
        raise ValueError(f"the held-out sample needs at least 2 galaxies, got {n}")
    return n


def calibration_size(cfg, n: int | None = None) -> int:
    """Held-out galaxies that join the validation galaxies in the interval calibration: ``n``, or the
    profile's normal galaxies (smoke 300, default 6,000)."""
    n = int(cfg.survey_a.n_normal) if n is None else int(n)
    if n < 0:
        raise ValueError(f"the extra calibration sample cannot be negative, got {n}")
    return n


def draw_cutouts(n: int, bad_fraction: float, seed: int) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """(catalog rows, (N, 3, 128, 128) cutouts [nanomaggies]) of ``n`` normal mock galaxies in chunks:
    the same galaxies and pixels as ``write_survey(…, n, 0, 0, bad_fraction, seed)`` would write."""
    from raregal.mock.survey import RENDER_CHUNK, render_cutouts, sample_catalog

    catalog = sample_catalog(n, 0, 0, bad_fraction, seed)
    for k, start in enumerate(range(0, len(catalog), RENDER_CHUNK)):
        part = catalog.iloc[start:start + RENDER_CHUNK]
        yield part, render_cutouts(part, np.random.default_rng([seed, 7, k]))


@dataclass
class HeldOut:
    """The held-out galaxies the survey path kept and those it dropped.

    ``frame``: ``id``; catalog values ``z``, ``logmstar`` [log10 M☉], ``logsfr`` [log10 M☉/yr] (what
    the intervals are calibrated on) and the mock's ``true_*``; ``mu_k``, ``sigma_k`` (encoder, k =
    1…5); ``flux_g``, ``flux_r``, ``flux_z`` [nanomaggies], aperture fluxes for the photometry
    baseline. ``drops``: ``id``, ``reason`` of every cutout the drop checks refused.
    """

    frame: pd.DataFrame
    drops: pd.DataFrame
    seed: int
    n_drawn: int
    latent_dim: int = 5

    def latents(self) -> tuple[np.ndarray, np.ndarray]:
        """(μ, σ) as (N, latent_dim) arrays."""
        d = self.latent_dim
        return (self.frame[[f"mu_{k + 1}" for k in range(d)]].to_numpy(np.float64),
                self.frame[[f"sigma_{k + 1}" for k in range(d)]].to_numpy(np.float64))

    def part(self, role: str) -> "HeldOut":
        """The ``calibration`` or ``test`` galaxies alone (drops stay those of the whole draw)."""
        if role not in ("calibration", "test"):
            raise ValueError(f"role must be 'calibration' or 'test', got {role!r}")
        frame = self.frame[self.frame["role"] == role].reset_index(drop=True)
        return HeldOut(frame, self.drops, self.seed, self.n_drawn, self.latent_dim)

    def values(self) -> dict[str, np.ndarray]:
        return {q: self.frame[q].to_numpy(np.float64) for q in QUANTITIES}

    def fluxes(self) -> np.ndarray:
        return self.frame[[f"flux_{b}" for b in steps.BANDS]].to_numpy(np.float64)


def encode_block(model, encoder, preprocess: dict, images: np.ndarray, weights: np.ndarray):
    """(drop reasons, μ, σ, aperture fluxes) of one block of raw cutouts through the survey path:
    :func:`.steps.screen`, :func:`.steps.model_input` (eq. 1 with ``preprocess["band_max_mean"]``,
    resize) and :func:`.steps.run_encoder`; μ, σ, fluxes only for the kept cutouts."""
    reasons, _ = steps.screen(images, preprocess["orientation_method"])
    keep = reasons == ""
    x = steps.model_input(images[keep], np.asarray(preprocess["band_max_mean"], np.float32),
                          float(preprocess["beta"]), int(preprocess["size"]))
    mu, sigma, _ = steps.run_encoder(model, encoder, x, reconstruction=False)
    fluxes = np.einsum("nbyx,yx->nb", images[keep], weights)
    return reasons, mu, sigma, fluxes


def encode_held_out(model, preprocess: dict, n: int, seed: int, bad_fraction: float = 0.0,
                    radius_px: float = APERTURE_RADIUS_PX, n_calibration: int = 0) -> HeldOut:
    """Draw ``n_calibration + n`` held-out mock galaxies with :func:`held_out_seed` ``(seed)`` and
    encode them; the first ``n_calibration`` drawn get ``role`` "calibration", the rest "test".

    Parameters
    ----------
    model : the run's physics CVAE (:func:`.steps.load_model`).
    preprocess : the bundle's preprocessing constants (``band_max_mean`` [nanomaggies] per band,
        ``beta``, ``size`` [px], ``orientation_method``): :attr:`.bundle.Bundle.preprocess`, or
        :func:`.from_run.held_out_for_run` before the bundle exists.
    n : test galaxies to draw (the kept ones are fewer by the drops).
    seed : the run's seed; the galaxies use the derived seed, not this one.
    bad_fraction : fraction drawn with a defective cutout (the profile's), so the drop checks work.
    radius_px : aperture radius of the baseline's fluxes [px of the 128 px cutouts].
    n_calibration : galaxies drawn for the calibration (see the module docstring).
    """
    from raregal.paper_a.latents import aperture_weights

    draw_seed = held_out_seed(seed)
    encoder = steps.fast_encoder(model)
    weights = aperture_weights(steps.RAW_SIZE, radius_px)
    kept, dropped, n_drawn = [], [], 0
    for part, images in draw_cutouts(n_calibration + n, bad_fraction, draw_seed):
        role = np.where(n_drawn + np.arange(len(part)) < n_calibration, "calibration", "test")
        n_drawn += len(part)
        reasons, mu, sigma, fluxes = encode_block(model, encoder, preprocess, images, weights)
        keep = reasons == ""
        dropped.append(pd.DataFrame({"id": part["id"].to_numpy()[~keep], "reason": reasons[~keep].astype(str)}))
        rows = part.loc[keep, ["id", *QUANTITIES, *(f"true_{q}" for q in QUANTITIES)]].reset_index(drop=True)
        rows = rows.assign(role=role[keep], **{f"mu_{k + 1}": mu[:, k] for k in range(mu.shape[1])},
                           **{f"sigma_{k + 1}": sigma[:, k] for k in range(sigma.shape[1])},
                           **{f"flux_{b}": fluxes[:, i] for i, b in enumerate(steps.BANDS)})
        kept.append(rows)
    return HeldOut(pd.concat(kept, ignore_index=True), pd.concat(dropped, ignore_index=True), draw_seed,
                   n_drawn, model.arch.latent_dim)
