"""Notebook 04's ``A-table-intervals``: do the survey catalog's intervals cover what they claim, and
are they narrower than what photometry alone gives?

The intervals of :mod:`.intervals` are calibrated on one seeded half of the validation galaxies and
their coverage is measured on the other half (:func:`.intervals.compare_methods`). As a yardstick the
same conformal recipe is applied to the (g, r, z) aperture photometry + MLP baseline of Table 1
(AstroCLIP's baseline, Lanusse et al. 2023; trained on the training split): an interval method is
only worth its latents if its intervals are narrower than the baseline's at the same coverage.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.paper_a.infer.calibration import QUANTITIES, UNITS
from raregal.paper_a.infer.intervals import LEVELS, compare_methods

BASELINE = "photometry + MLP"
GOAL = 0.02  # coverage within ±2 % of the nominal level (the survey tool's goal)


def photometry_predictions(fluxes: np.ndarray, catalog: pd.DataFrame, seed: int = 0,
                           hidden: tuple[int, ...] = (64, 64)) -> dict[str, np.ndarray]:
    """Validation-galaxy predictions of z, log M*, log SFR by the Table 1 photometry + MLP baseline.

    ``fluxes``: (N, 3) aperture fluxes [nanomaggies] aligned with ``catalog``. The model is the one
    :func:`raregal.paper_a.latents.photometry_mlp_r2` scores (same features, layers and seed),
    trained on ``split == "train"``; returns quantity → (n_val,) predictions.
    """
    from raregal.paper_a.latents import photometry_features, photometry_mlp

    phot, _ = photometry_features(fluxes)
    tr = (catalog["split"] == "train").to_numpy()
    va = (catalog["split"] == "val").to_numpy()
    out = {}
    for q in QUANTITIES:
        out[q] = photometry_mlp(seed, hidden).fit(phot[tr], catalog[q].to_numpy()[tr]).predict(phot[va])
    return out


def baseline_comparison(predictions: dict[str, np.ndarray], catalog: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Conformal intervals of the baseline's validation predictions, fitted and scored on the same
    seeded halves of ``val`` as the CVAE's (same columns as :func:`.intervals.compare_methods`)."""
    va = (catalog["split"] == "val").to_numpy()
    truth = {q: catalog[q].to_numpy(np.float64)[va] for q in predictions}
    frame = compare_methods(truth, predictions, None, seed=seed, methods=("conformal",))
    return frame.assign(model=BASELINE)


def intervals_table(comparison: pd.DataFrame, baseline: pd.DataFrame, chosen: str) -> pd.DataFrame:
    """Long-format ``A-table-intervals``: per model / interval method, quantity and level, the
    empirical coverage and the mean interval width (units of the quantity) on held-out galaxies.

    ``comparison``: :func:`.intervals.compare_methods` of the physics CVAE's calibration;
    ``baseline``: :func:`baseline_comparison`; ``chosen``: the method the bundle ships."""
    cvae = comparison.assign(model="physics CVAE")
    rows = []
    for r in pd.concat([cvae, baseline], ignore_index=True).itertuples():
        method = f"{r.model}, {r.method}"
        note = "the bundle's intervals" if r.model != BASELINE and r.method == chosen else ""
        off = r.coverage - r.level
        rows.append({"method": method, "quantity": r.quantity, "level": r.level, "statistic": "coverage",
                     "ours": r.coverage, "paper": np.nan, "n": r.n,
                     "note": "; ".join(x for x in (note, f"{off:+.3f} from nominal"
                                                   f"{' (outside ±2 %)' if abs(off) > GOAL else ''}") if x)})
        rows.append({"method": method, "quantity": r.quantity, "level": r.level, "statistic": "mean width",
                     "ours": r.mean_width, "paper": np.nan, "n": r.n,
                     "note": "; ".join(x for x in (note, UNITS[r.quantity] or "redshift") if x)})
    return pd.DataFrame(rows)


def width_ratio(table: pd.DataFrame, chosen: str, level: float = LEVELS[0]) -> dict[str, float]:
    """Mean width of the bundle's intervals over the baseline's, per quantity (< 1: narrower)."""
    w = table[(table["statistic"] == "mean width") & (table["level"] == level)].set_index(["method", "quantity"])
    return {q: float(w.loc[(f"physics CVAE, {chosen}", q), "ours"] / w.loc[(f"{BASELINE}, conformal", q), "ours"])
            for q in QUANTITIES}
