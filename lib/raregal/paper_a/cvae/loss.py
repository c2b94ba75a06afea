"""Paper A eq. 2 (physics-informed CVAE loss), the vanilla VAE loss, and the property targets.

Eq. 2 per galaxy i, averaged over the n galaxies of a batch:

    β0·‖x_i − x̂_i‖²  +  KL(N(μ5, σ5²) ‖ N(0, 1))  +  β1·Σ_k (p_ik − μ_ik)² / σ_ik²

with k over latents 1–4 = (orientation, z, log M*, log SFR). The paper's sums run over galaxies
(i = 1…n), so the squared errors are summed over pixels and properties inside a galaxy and averaged
over galaxies; this keeps the reconstruction on the scale of a Gaussian log-likelihood, which the
authors' code also does (``MSELoss(reduction='sum')``). The KL term printed in eq. 2,
σ² + μ² − log σ − 1, is a typo for the standard ½(σ² + μ² − log σ² − 1) that the authors' code
uses; we use the standard one. The vanilla baseline is β0·‖x − x̂‖² + KL over all latents.

σ_p: the catalog 1σ errors; 0.1 rad for every orientation (paper §2); a floor for spectroscopic z
(its catalog error is tiny or zero, and 1/σ² would swamp every other term — the authors' code floors
all σ at 1e-3). Errors below a floor are raised to it and counted; missing columns, NaN values,
NaN or negative errors are clear errors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from raregal.paper_a import values

PROPERTIES = ("orientation", "z", "logmstar", "logsfr")  # latents 1-4, in order
ERROR_COLUMNS = {p: f"{p}_err" for p in PROPERTIES}
#: documented floors on σ_p (same units as the property); orientation is fixed at 0.1 rad by the paper.
DEFAULT_ERROR_FLOORS = {"orientation": values.ORIENTATION_SIGMA, "z": 1e-3, "logmstar": 0.01, "logsfr": 0.01}


class CatalogError(ValueError):
    """The catalog cannot give property targets (missing column, NaN value or error)."""


@dataclass
class Targets:
    """Property values p and errors σ_p, (N, 4) float32, plus how many errors were floored."""

    values: np.ndarray
    sigmas: np.ndarray
    floored: dict[str, int] = field(default_factory=dict)

    def report(self) -> str:
        parts = [f"{k}: {v}" for k, v in self.floored.items() if v]
        return "errors raised to floor — " + (", ".join(parts) if parts else "none")


def property_targets(catalog: pd.DataFrame, floors: dict[str, float] | None = None,
                     orientation_sigma: float | None = values.ORIENTATION_SIGMA) -> Targets:
    """Targets for eq. 2 from a processed catalog (columns of CONTRIBUTING.md).

    ``orientation_sigma`` = None uses the catalog's ``orientation_err`` instead of the paper's 0.1 rad.
    """
    floors = {**DEFAULT_ERROR_FLOORS, **(floors or {})}
    need = list(PROPERTIES) + [ERROR_COLUMNS[p] for p in PROPERTIES
                               if not (p == "orientation" and orientation_sigma is not None)]
    missing = [c for c in need if c not in catalog.columns]
    if missing:
        raise CatalogError(f"catalog lacks column(s) {missing} needed for the eq. 2 property term "
                           f"(have {list(catalog.columns)})")
    values = catalog[list(PROPERTIES)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        per = {p: int(n) for p, n in zip(PROPERTIES, bad.sum(0)) if n}
        raise CatalogError(f"catalog has NaN/inf property values {per}; drop those rows in preprocessing")
    sigmas = np.empty_like(values)
    floored = {}
    for k, p in enumerate(PROPERTIES):
        if p == "orientation" and orientation_sigma is not None:
            s = np.full(len(catalog), float(orientation_sigma))
        else:
            s = catalog[ERROR_COLUMNS[p]].to_numpy(dtype=np.float64)
            if not np.isfinite(s).all():
                raise CatalogError(f"column {ERROR_COLUMNS[p]} has {int((~np.isfinite(s)).sum())} NaN/inf "
                                   "errors; an unknown error cannot weight the loss — fix or drop those rows")
            if (s < 0).any():
                raise CatalogError(f"column {ERROR_COLUMNS[p]} has {int((s < 0).sum())} negative errors")
        low = s < floors[p]
        floored[p] = int(low.sum())
        sigmas[:, k] = np.where(low, floors[p], s)
    return Targets(values.astype(np.float32), sigmas.astype(np.float32), floored)


def wrap_orientation(d: torch.Tensor) -> torch.Tensor:
    """Angle difference folded into [-π/2, π/2): orientations are periodic with period π."""
    return torch.remainder(d + math.pi / 2, math.pi) - math.pi / 2


def _recon(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return (x_hat - x).pow(2).flatten(1).sum(1)  # per galaxy, summed over pixels and bands


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * (logvar.exp() + mu.pow(2) - logvar - 1).sum(1)  # per galaxy, vs N(0, 1)


def physics_loss(x, x_hat, mu, logvar, p, sigma_p, beta0: float = values.LOSS_BETA0,
                 beta1: float = values.LOSS_BETA1, periodic_orientation: bool = False) -> dict[str, torch.Tensor]:
    """Eq. 2, batch mean; returns total and its three terms (un-weighted recon/prop for plotting)."""
    n_prop = p.shape[1]
    diff = mu[:, :n_prop] - p
    if periodic_orientation:  # option: π/2 ≡ −π/2, off by default (the paper uses the plain difference)
        diff = torch.cat([wrap_orientation(diff[:, :1]), diff[:, 1:]], 1)
    recon = _recon(x, x_hat)
    kl = _kl(mu[:, n_prop:], logvar[:, n_prop:])
    prop = (diff / sigma_p).pow(2).sum(1)
    total = beta0 * recon + kl + beta1 * prop
    return {"loss": total.mean(), "recon": recon.mean(), "kl": kl.mean(), "prop": prop.mean()}


def vanilla_loss(x, x_hat, mu, logvar, p=None, sigma_p=None, beta0: float = values.LOSS_BETA0,
                 beta1: float = 0.0, periodic_orientation: bool = False) -> dict[str, torch.Tensor]:
    """Same network, KL over all latents, no property term (p, σ_p, β1 accepted and ignored)."""
    recon = _recon(x, x_hat)
    kl = _kl(mu, logvar)
    total = beta0 * recon + kl
    return {"loss": total.mean(), "recon": recon.mean(), "kl": kl.mean(), "prop": torch.zeros(())}


LOSSES = {"physics": physics_loss, "vanilla": vanilla_loss}
