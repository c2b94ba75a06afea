"""The figures' data of Ma et al. (2025) Figs 8, 9 and D4: the samples compared, CDFs, KDEs.

Newly found D-ETGs, known ones, and a control sample of early types matched to them in redshift and
stellar mass; CDFs with 1σ bootstrap bands and Gaussian KDEs of their physical properties.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd


def matched_control(target: pd.DataFrame, pool: pd.DataFrame, n: int,
                    columns: Sequence[str] = ("z", "logmstar"), n_bins: int = 5,
                    seed: int = 0) -> pd.DataFrame:
    """``n`` rows of ``pool`` whose joint distribution of ``columns`` follows ``target``'s.

    Cells are the target's per-column quantile bins (``n_bins`` each); pool rows outside the target's
    range are not eligible; each cell is drawn in the target's proportion, without replacement while
    the cell lasts. Draws that had to repeat a galaxy are counted in ``attrs['n_reused']``, and cells
    the pool does not cover at all (their share is redrawn from the others) in ``attrs['n_empty_cells']``.
    """
    cols = list(columns)
    for name, df in (("target", target), ("pool", pool)):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name} sample lacks columns {missing}")
    t = target[cols].dropna()
    p = pool.dropna(subset=cols)
    if len(t) == 0 or len(p) == 0 or n < 1:
        raise ValueError(f"cannot match {n} rows: {len(t)} target and {len(p)} pool rows with finite {cols}")
    edges = [np.unique(np.quantile(t[c], np.linspace(0, 1, n_bins + 1))) for c in cols]

    def cell(df):
        code = np.zeros(len(df), np.int64)
        inside = np.ones(len(df), bool)
        for c, e in zip(cols, edges):
            x = df[c].to_numpy(float)
            inside &= (x >= e[0]) & (x <= e[-1])
            k = np.clip(np.searchsorted(e, x, side="right") - 1, 0, max(len(e) - 2, 0))
            code = code * (n_bins + 1) + k
        return np.where(inside, code, -1)

    t_cell, p_cell = cell(t), cell(p)
    keys, counts = np.unique(t_cell, return_counts=True)
    covered = np.isin(keys, p_cell)
    if not covered.any():
        raise ValueError(f"no pool galaxy lies inside the target's range of {cols}")
    rng = np.random.default_rng(seed)
    want = rng.multinomial(n, counts[covered] / counts[covered].sum())
    picks, reused = [], 0
    for key, k in zip(keys[covered], want):
        members = np.flatnonzero(p_cell == key)
        if k > len(members):
            reused += k - len(members)
        if k:
            picks.append(rng.choice(members, k, replace=k > len(members)))
    out = p.iloc[np.concatenate(picks)]
    out.attrs["n_reused"] = int(reused)
    out.attrs["n_empty_cells"] = int((~covered).sum())
    return out


def bootstrap_cdf(values: Any, grid: Any, n_boot: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Empirical CDF on ``grid`` and its 1σ (16–84 %) bootstrap band; NaNs dropped and counted."""
    x = np.asarray(values, float)
    grid = np.asarray(grid, float)
    n_nan = int(np.isnan(x).sum())
    x = np.sort(x[~np.isnan(x)])
    if len(x) == 0:
        raise ValueError("no finite values for a CDF")
    cdf = np.searchsorted(x, grid, side="right") / len(x)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, len(grid)))
    for b in range(n_boot):
        xb = np.sort(rng.choice(x, len(x), replace=True))
        boots[b] = np.searchsorted(xb, grid, side="right") / len(x)
    lo, hi = np.percentile(boots, [15.865, 84.135], axis=0)
    return {"grid": grid, "cdf": cdf, "lo": lo, "hi": hi, "n": len(x), "n_nan": n_nan}


def kde(values: Any, grid: Any) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth, scipy) of the finite values on ``grid``."""
    from scipy.stats import gaussian_kde

    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"a KDE needs at least 2 distinct finite values, got {len(x)}")
    return gaussian_kde(x)(np.asarray(grid, float))


def catalog_rows(catalog: pd.DataFrame, ids: Sequence[int]) -> pd.DataFrame:
    """The catalog rows of ``ids`` in that order; ids the catalog lacks are an error naming the fix
    (tags and catalog from different runs of notebooks 01 and 07)."""
    cat = catalog.drop_duplicates("dr7objid").set_index("dr7objid")
    ids = np.asarray(ids, np.int64)
    missing = ~np.isin(ids, cat.index.to_numpy(np.int64))
    if missing.any():
        raise ValueError(f"{int(missing.sum())} of {len(ids)} tagged galaxies are not in the catalog "
                         f"(e.g. {ids[missing][:3].tolist()}): the tags and the catalog come from "
                         f"different runs — rerun notebooks 01 and 07 with this profile")
    return cat.loc[ids].reset_index()


def comparison_samples(physical: pd.DataFrame, found_ids: Sequence[int], known_ids: Sequence[int] | None,
                       etg: Any, n_control: int, seed: int = 0) -> tuple[dict[str, pd.DataFrame], str]:
    """The three samples of Figs 8, 9, D4: newly found (accepted, not known), known, and a control of
    early types (``etg`` bool per row, neither found nor known) matched in z and M* to the new sample
    (to the known one when fewer than 5 were found; the note says so).

    ``known_ids=None`` (real data without the known D-ETG list): "new" is every accepted galaxy and
    "known" is empty; an empty sample carries why in ``attrs['missing']``, for the figure to say. A
    control that cannot be matched (no finite z and M*, e.g. real data without physical columns) is
    empty too, with the reason.
    """
    ids = physical["dr7objid"].to_numpy(np.int64)
    found = np.isin(ids, np.asarray(list(found_ids), np.int64))
    known = np.isin(ids, np.asarray(list([] if known_ids is None else known_ids), np.int64))
    new = physical[found & ~known]
    kn = physical[known]
    if known_ids is None:
        kn = kn.copy()
        kn.attrs["missing"] = "needs the known D-ETG list (Kaviraj et al. 2012)"
    pool = physical[np.asarray(etg, bool) & ~found & ~known]
    target, note = (new, "control matched to the new sample") if len(new) >= 5 or known_ids is None else \
        (kn, f"only {len(new)} new D-ETGs: control matched to the known sample")
    try:
        control = matched_control(target, pool, n_control, seed=seed)
        note += f"; {control.attrs['n_reused']} control draws repeat a galaxy"
    except ValueError as err:
        control = physical.iloc[:0].copy()
        control.attrs["missing"] = f"no control: {err}"
        note = f"no control sample ({err})"
    return {"new": new, "known": kn, "control": control}, note
