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

from raregal.mock.survey.fast_rendering import render_cutouts_fast
from raregal.mock.survey.instrument import BANDS, CUTOUT_SIZE, PIXEL_SCALE
from raregal.mock.survey.population import CLASSES, DEFECTS, sample_catalog
from raregal.mock.survey.rendering import render_cutouts

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

RENDER_CHUNK = 256  # fixed: the noise stream depends on it, so it is not a knob
CONTRACT_COLUMNS = ("id", "ra", "dec", "class", "z", "z_err", "logmstar", "logmstar_err",
                    "logsfr", "logsfr_err")
PAPER_COUNTS = {"normal": 26126, "green_pea": 13, "red_spiral": 294}  # paper A §2


RENDERERS = {"default": render_cutouts, "fast": render_cutouts_fast}
SHARD_PATTERN = "cutouts-*.h5"  # shard files of a sharded survey, named by their first row


def write_survey(out_dir: Path | str, n_normal: int, n_green_pea: int, n_red_spiral: int,
                 bad_fraction: float, seed: int, chunk: int = RENDER_CHUNK, renderer: str = "default",
                 shard_size: int | None = None) -> dict:
    """Generate the survey and stream it to ``out_dir``/cutouts.h5 (or shards) + catalog.parquet.

    Only one chunk of cutouts is in memory at a time, and every file is written atomically.
    Deterministic per ``seed``: chunk ``k`` uses the noise stream ``[seed, 7, k]``, so pass the
    default chunk size to reproduce a survey.

    Parameters
    ----------
    out_dir : folder of the survey.
    n_normal, n_green_pea, n_red_spiral, bad_fraction, seed : as in :func:`sample_catalog`.
    chunk : galaxies rendered at once (it fixes the noise streams).
    renderer : ``"default"`` (bit-identical to the notebooks' survey) or ``"fast"``
        (:func:`render_cutouts_fast`: same catalog, galaxy model, PSF, noise σ and defects, other
        bits; for test surveys at scale).
    shard_size : None writes one ``cutouts.h5``; an integer writes ``out_dir``/cutouts/ as HDF5
        files of ``shard_size`` galaxies (``images`` + ``id`` each, the last one shorter), named
        ``cutouts-<first row>.h5`` — what :func:`raregal.paper_a.infer.shards.discover` reads.
        Shards of an earlier run in that folder are removed first. The cutouts do not depend on it.

    Returns
    -------
    dict with ``cutouts`` (the file, or the shard folder), ``shards`` (the files written),
    ``catalog`` (path) and ``n`` (galaxies written).
    """
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {sorted(RENDERERS)}, got {renderer!r}")
    if shard_size is not None and (int(shard_size) != shard_size or shard_size < 1):
        raise ValueError(f"shard_size must be a positive integer or None, got {shard_size!r}")
    from raregal.core.outputs import atomic_path

    out_dir = Path(out_dir)
    cat = sample_catalog(n_normal, n_green_pea, n_red_spiral, bad_fraction, seed)
    n, render = len(cat), RENDERERS[renderer]
    chunks = ((start, render(cat.iloc[start:start + chunk], np.random.default_rng([seed, 7, k])))
              for k, start in enumerate(range(0, n, chunk)))
    if shard_size is None:
        cutouts, size = out_dir / "cutouts.h5", n
    else:
        cutouts, size = out_dir / "cutouts", int(shard_size)
        cutouts.mkdir(parents=True, exist_ok=True)
        for stale in cutouts.glob(SHARD_PATTERN):
            stale.unlink()

    def shard_path(first: int) -> Path:
        return cutouts if shard_size is None else cutouts / f"cutouts-{first:09d}.h5"

    shards = _write_shards(chunks, cat["id"].to_numpy(np.int64), size, shard_path,
                           {"source": "mock", "seed": seed, "renderer": renderer})
    with atomic_path(out_dir / "catalog.parquet") as tmp:
        cat.to_parquet(tmp, index=False)
    return {"cutouts": cutouts, "shards": shards, "catalog": out_dir / "catalog.parquet", "n": n}


def _write_shards(chunks, ids: np.ndarray, shard_size: int, shard_path, attrs: dict) -> list[Path]:
    """Write rendered ``(first row, images)`` chunks into consecutive HDF5 files of ``shard_size``
    rows; a chunk may straddle two files. Each file appears (atomically) once it is complete."""
    import contextlib

    from raregal.core.outputs import atomic_path

    written = []
    with contextlib.ExitStack() as outer:
        shard, ds, first = None, None, 0
        for start, images in chunks:
            pos = 0
            while pos < len(images):
                row = start + pos
                if ds is None or row >= first + shard_size:
                    if shard is not None:
                        shard.close()  # renames the finished file into place
                    first = row - row % shard_size
                    shard = outer.enter_context(contextlib.ExitStack())
                    ds = _open_shard(shard, atomic_path(shard_path(first)), ids[first:first + shard_size], attrs)
                    written.append(shard_path(first))
                take = min(len(images) - pos, first + shard_size - row)
                ds[row - first:row - first + take] = images[pos:pos + take]
                pos += take
    return written


def _open_shard(stack, atomic, ids: np.ndarray, attrs: dict):
    """A new HDF5 shard inside ``stack``: its ``id`` dataset and the (empty) ``images`` dataset."""
    import h5py

    tmp = stack.enter_context(atomic)
    h5 = stack.enter_context(h5py.File(tmp, "w"))
    n = ids.size
    ds = h5.create_dataset("images", (n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), "f4",
                           chunks=(min(16, n), len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE))
    h5.create_dataset("id", data=ids)
    ds.attrs.update({"bands": ",".join(BANDS), "units": "nanomaggies", "pixel_scale_arcsec": PIXEL_SCALE,
                     **attrs})
    return ds


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
