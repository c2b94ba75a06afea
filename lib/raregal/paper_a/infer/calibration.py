"""Latents → catalog values: the linear map that turns physics latents into z, log M*, log SFR.

Why a map at all: eq. 2 pulls latents 2-4 toward z, log M*, log SFR, but a finite training run
leaves them shrunk toward the mean (Table 1 scores them by the R² of a linear fit, not by identity).
A survey catalog wants values in physical units, so the same linear fit is kept: least squares from
the physics latents to each catalog value, fitted on the *training* galaxies (the validation galaxies
stay free for the interval calibration and its coverage, see :mod:`.intervals`).

``features="own"`` uses the latent eq. 2 ties to the quantity (latent 2 for z, as Table 1);
``features="all"`` uses all five latents (what the notebook-05 SVM sees).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

QUANTITIES = ("z", "logmstar", "logsfr")
#: latent (0-based) that eq. 2 ties to each quantity: latents 1-4 = orientation, z, log M*, log SFR
OWN_LATENT = {"z": 1, "logmstar": 2, "logsfr": 3}
UNITS = {"z": "", "logmstar": "log10 M_sun", "logsfr": "log10 M_sun/yr"}
FEATURES = ("own", "all")


@dataclass
class PropertyCalibration:
    """Per quantity: value = intercept + coef · latents (float64 least squares)."""

    coef: dict[str, list[float]]
    intercept: dict[str, float]
    features: str = "all"
    fitted_on: str = "train"
    n: int = 0

    def _weights(self, q: str, d: int) -> np.ndarray:
        w = np.zeros(d)
        if self.features == "own":
            w[OWN_LATENT[q]] = self.coef[q][0]
        else:
            w[:] = self.coef[q]
        return w

    def predict(self, mu: np.ndarray) -> dict[str, np.ndarray]:
        """Estimates per quantity from μ (N, d)."""
        mu = np.asarray(mu, np.float64)
        return {q: mu @ self._weights(q, mu.shape[1]) + self.intercept[q] for q in self.coef}

    def sigma(self, sigma_latent: np.ndarray) -> dict[str, np.ndarray]:
        """The encoder's σ carried through the linear map, √Σ (w_j σ_j)², per quantity (same units)."""
        s = np.asarray(sigma_latent, np.float64)
        return {q: np.sqrt(((s * self._weights(q, s.shape[1])) ** 2).sum(1)) for q in self.coef}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PropertyCalibration":
        missing = [k for k in ("coef", "intercept") if k not in d]
        if missing:
            raise KeyError(f"calibration lacks {missing}")
        return cls(coef={q: [float(c) for c in v] for q, v in d["coef"].items()},
                   intercept={q: float(v) for q, v in d["intercept"].items()},
                   features=str(d.get("features", "all")), fitted_on=str(d.get("fitted_on", "")),
                   n=int(d.get("n", 0)))


def fit_calibration(mu: np.ndarray, values: dict[str, np.ndarray], features: str = "all",
                    fitted_on: str = "train") -> PropertyCalibration:
    """Least-squares fit of each catalog value on the latents μ (N, d); rows with a NaN are skipped.

    ``values``: quantity → (N,) catalog values (z, log M* [log10 M☉], log SFR [log10 M☉/yr]).
    """
    if features not in FEATURES:
        raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
    mu = np.asarray(mu, np.float64)
    coef, intercept, n = {}, {}, len(mu)
    for q, y in values.items():
        y = np.asarray(y, np.float64)
        X = mu[:, [OWN_LATENT[q]]] if features == "own" else mu
        ok = np.isfinite(X).all(1) & np.isfinite(y)
        if ok.sum() < X.shape[1] + 2:
            raise ValueError(f"{q}: only {int(ok.sum())} finite rows to fit {X.shape[1]} latents")
        A = np.column_stack([X[ok], np.ones(ok.sum())])
        sol, *_ = np.linalg.lstsq(A, y[ok], rcond=None)
        coef[q], intercept[q] = [float(c) for c in sol[:-1]], float(sol[-1])
        n = min(n, int(ok.sum()))
    return PropertyCalibration(coef, intercept, features, fitted_on, n)
