"""The whole paper B mock catalog (no images): GZ2-like ids and sky positions, Hart et al. (2016)
vote columns, physical columns and the truth, in the column order of the CONTRIBUTING contract.

Why one function: the population and the volunteers draw from one generator in a fixed order, so
a seed gives the same catalog whoever calls it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.mock.gz2.population import sample_morphology, sample_physics
from raregal.mock.gz2.votes import gz2_class_string, simulate_votes

ID_BASE = 587_720_000_000_000_000  # SDSS DR7 objid-like ids


def make_catalog(n: int, seed: int = 0, detg_fraction: float = 0.0013) -> pd.DataFrame:
    """The whole mock catalog (no images): ids, coordinates, votes, physics and truth.

    Parameters
    ----------
    n : galaxies (≥ 1). seed : the catalog uses the stream ``[seed, 62]``.
    detg_fraction : fraction of all galaxies that are D-ETGs (early type + dust lane).

    Returns
    -------
    DataFrame: ``dr7objid`` (int64), ``ra``, ``dec`` [deg], ``sample``, ``gz2_class``, the Hart16
    vote columns, ``z, rmag, logmstar, logsfr, loghalomass`` and the ``true_*`` columns.
    """
    if n < 1:
        raise ValueError(f"need at least one galaxy, got n={n}")
    rng = np.random.default_rng([seed, 62])
    truth = sample_morphology(n, rng, detg_fraction)
    phys = sample_physics(truth, rng)
    votes = simulate_votes(pd.concat([truth, phys], axis=1), rng)
    ids = ID_BASE + np.sort(rng.choice(10 ** 13, size=n, replace=False))
    ra = rng.uniform(110.0, 260.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-5)), np.sin(np.radians(65)), n)))
    head = pd.DataFrame({"dr7objid": ids.astype(np.int64), "ra": np.round(ra, 6),
                         "dec": np.round(dec, 6), "sample": "original"})
    cat = pd.concat([head, votes, phys.iloc[:, :5], truth, phys.iloc[:, 5:]], axis=1)
    cat.insert(4, "gz2_class", gz2_class_string(votes))
    return cat
