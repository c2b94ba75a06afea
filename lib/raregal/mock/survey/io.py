"""Writing the paper A mock survey to the files of the CONTRIBUTING contract, and its summary table.

Why streaming: a paper-size survey (Gagliano & Villar 2023 §2: 26,433 galaxies) is ~5 GB of float32
cutouts, so only one chunk is in memory at a time; the chunk size is fixed because each chunk has
its own noise stream.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raregal.mock.survey.instrument import BANDS, CUTOUT_SIZE, PIXEL_SCALE
from raregal.mock.survey.population import CLASSES, DEFECTS, sample_catalog
from raregal.mock.survey.rendering import render_cutouts

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

RENDER_CHUNK = 256  # fixed: the noise stream depends on it, so it is not a knob
CONTRACT_COLUMNS = ("id", "ra", "dec", "class", "z", "z_err", "logmstar", "logmstar_err",
                    "logsfr", "logsfr_err")
PAPER_COUNTS = {"normal": 26126, "green_pea": 13, "red_spiral": 294}  # paper A §2


def write_survey(out_dir: Path | str, n_normal: int, n_green_pea: int, n_red_spiral: int,
                 bad_fraction: float, seed: int, chunk: int = RENDER_CHUNK) -> dict:
    """Generate the survey and stream it to ``out_dir``/cutouts.h5 + catalog.parquet (atomic).

    Only one chunk of cutouts is in memory at a time. Deterministic per ``seed``: chunk ``k`` uses
    the noise stream ``[seed, 7, k]``, so pass the default chunk size to reproduce a survey.

    Returns
    -------
    dict with ``cutouts`` and ``catalog`` (paths) and ``n`` (galaxies written).
    """
    import h5py

    from raregal.core.outputs import atomic_path

    out_dir = Path(out_dir)
    cat = sample_catalog(n_normal, n_green_pea, n_red_spiral, bad_fraction, seed)
    n = len(cat)
    with atomic_path(out_dir / "cutouts.h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            ds = h5.create_dataset("images", (n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), "f4",
                                   chunks=(min(16, n), len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE))
            h5.create_dataset("id", data=cat["id"].to_numpy(np.int64))
            ds.attrs.update({"bands": ",".join(BANDS), "units": "nanomaggies",
                             "pixel_scale_arcsec": PIXEL_SCALE, "source": "mock", "seed": seed})
            for k, start in enumerate(range(0, n, chunk)):
                part = cat.iloc[start:start + chunk]
                ds[start:start + len(part)] = render_cutouts(part, np.random.default_rng([seed, 7, k]))
    with atomic_path(out_dir / "catalog.parquet") as tmp:
        cat.to_parquet(tmp, index=False)
    return {"cutouts": out_dir / "cutouts.h5", "catalog": out_dir / "catalog.parquet", "n": n}


def write_survey_for(cfg: "RunConfig") -> dict:
    """Notebook entry point: the profile's sizes into ``cfg.data_dir("interim", "survey_a")``."""
    s = cfg.survey_a
    return write_survey(cfg.data_dir("interim", "survey_a"), s.n_normal, s.n_green_pea,
                        s.n_red_spiral, s.bad_fraction, cfg.seed)


def summary_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """Long-format counts per class (ours vs paper A §2), median z and log M* per class, bad cutouts."""
    rows = []
    for cls in CLASSES:
        sel = catalog["class"] == cls
        rows.append({"class": cls, "quantity": "count", "ours": int(sel.sum()),
                     "paper": PAPER_COUNTS[cls]})
        rows.append({"class": cls, "quantity": "median z", "ours": float(catalog.loc[sel, "z"].median())
                     if sel.any() else np.nan, "paper": np.nan})
        rows.append({"class": cls, "quantity": "median log M*",
                     "ours": float(catalog.loc[sel, "logmstar"].median()) if sel.any() else np.nan,
                     "paper": np.nan})
    if "true_defect" in catalog:
        for defect in DEFECTS[1:]:
            rows.append({"class": "all", "quantity": f"bad cutouts: {defect}",
                         "ours": int((catalog["true_defect"] == defect).sum()),
                         "paper": 5 if defect == "missing_band" else np.nan})
    rows.append({"class": "all", "quantity": "count", "ours": len(catalog),
                 "paper": sum(PAPER_COUNTS.values())})
    return pd.DataFrame(rows)
