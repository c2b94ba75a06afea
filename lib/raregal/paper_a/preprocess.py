"""Paper A preprocessing: bad-cutout drops, eq. 1 normalisation, 128 → 69 px, train/val split.

Why each step (Gagliano & Villar 2023 §2):

* **Drops**: a cutout with the wrong shape, non-finite pixels, all zeros, a missing (all-zero or
  constant) band, saturated pixels (a plateau at the band maximum: bright star), or no detected source
  within ``MAX_CENTRE_DIST`` px of the centre is dropped with its reason; all are counted in the
  ``A-drops`` table, and the run fails if more than ``max_drop_fraction`` is dropped.
* **Orientation** of the central galaxy, the first physical latent of the CVAE: measured by
  :mod:`raregal.paper_a.orientation` (the batched fast path on every galaxy, the paper's photutils
  recipe on a seeded subset, or on all of them with ``orientation_method="photutils"``).
  Uncertainty 0.1 rad (the paper's).
* **Normalisation** eq. 1: x_b = tanh(asinh(β x_b / ⟨max x_b⟩)), β = 10, where ⟨max x_b⟩ is the
  mean over the *training* galaxies of each cutout's maximum in band b; computed once, saved in
  ``norm.json`` and reused for validation and anomalies (no information leaks from them).
* **Split**: normal galaxies 80 % train / 20 % val with the authors' fixed seed 12345 (independent of
  the run seed, so every run trains on the same galaxies); Green Peas and Red Spirals get
  ``split = "anomaly"`` (the paper adds them to the validation set for evaluation only).
* **Resize** 128 → 69 px (:func:`raregal.core.images.resize`, bilinear with antialiasing), after
  normalisation (the paper's order).

The survey run (:func:`preprocess_survey`) streams the interim cutouts twice: once to measure
(drops, orientations, band maxima), once to write the normalised images. Loader for downstream
notebooks: :func:`load_processed`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import pandas as pd

from raregal.core.images import resize
from raregal.paper_a import values
from raregal.paper_a.orientation import orientation_agreement, orientation_fast, orientation_photutils

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

BANDS = ("g", "r", "z")
RAW_SIZE = 128
SPLIT_SEED = 12345  # the authors' 80/20 split seed
MAX_CENTRE_DIST = 10.0  # px: nearest source farther than this → "no_central_source"
SATURATION_MIN_PIXELS = 5  # this many pixels exactly at a band's maximum = a saturated plateau
DROP_REASONS = ("wrong_shape", "non_finite", "all_zero", "missing_band", "saturated",
                "no_central_source")
CHUNK = 256
MEASUREMENT_COLUMNS = ("orientation", "centre_dist", "area", "ellipticity")


class PreprocessError(RuntimeError):
    """Preprocessing cannot go on (too many drops, unusable input file)."""


# --------------------------------------------------------------------------------------------
# Drops
# --------------------------------------------------------------------------------------------
@dataclass
class DropLog:
    """Every dropped galaxy with its reason; becomes the ``A-drops`` table."""

    ids: dict[str, list[int]] = field(default_factory=lambda: {r: [] for r in DROP_REASONS})

    def add(self, reason: str, ids: Iterable[int]) -> None:
        if reason not in self.ids:
            raise ValueError(f"unknown drop reason {reason!r}; known: {DROP_REASONS}")
        self.ids[reason].extend(int(i) for i in ids)

    @property
    def n(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def all_ids(self) -> set[int]:
        return {i for v in self.ids.values() for i in v}

    def table(self, n_input: int) -> pd.DataFrame:
        """Long format: one row per reason (zero counts included, so the checks are visible)."""
        rows = [{"reason": r, "ours": len(v), "paper": values.PAPER_DROPS.get(r, np.nan),
                 "ids": " ".join(map(str, sorted(v)))} for r, v in self.ids.items()]
        rows.append({"reason": "total dropped", "ours": self.n,
                     "paper": float(sum(values.PAPER_DROPS.values())), "ids": ""})
        rows.append({"reason": "input cutouts", "ours": n_input, "paper": float(values.PAPER_N_CUTOUTS),
                     "ids": ""})
        return pd.DataFrame(rows)

    def check(self, n_input: int, max_fraction: float) -> None:
        """Fail when there is nothing to preprocess or more than ``max_fraction`` was dropped."""
        if n_input == 0:
            raise PreprocessError("no cutouts to preprocess")
        frac = self.n / n_input
        if frac > max_fraction:
            counts = ", ".join(f"{r}={len(v)}" for r, v in self.ids.items() if v)
            raise PreprocessError(
                f"{self.n} of {n_input} cutouts ({frac:.1%}) were dropped, more than the allowed "
                f"{max_fraction:.0%} (preprocess.max_drop_fraction): {counts}. Check the input survey.")


def stack_cutouts(cutouts: Sequence[np.ndarray], ids: Sequence[int], drops: DropLog,
                  shape: tuple[int, ...] = (len(BANDS), RAW_SIZE, RAW_SIZE)) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-galaxy arrays into (N, 3, H, W) float32, dropping wrong shapes (reason recorded)."""
    if len(cutouts) != len(ids):
        raise ValueError(f"{len(cutouts)} cutouts but {len(ids)} ids")
    good = [i for i, c in enumerate(cutouts) if np.shape(c) == tuple(shape)]
    good_set = set(good)
    drops.add("wrong_shape", [ids[i] for i in range(len(ids)) if i not in good_set])
    arr = np.stack([np.asarray(cutouts[i], np.float32) for i in good]) if good else \
        np.zeros((0, *shape), np.float32)
    return arr, np.asarray([ids[i] for i in good], np.int64)


def cutout_problems(batch: np.ndarray) -> np.ndarray:
    """Per cutout of a (N, 3, H, W) batch: the drop reason, or "" when it is usable.

    One pass per statistic (finite, band max, band min, pixels at the max): all-zero and missing-band
    follow from the band extremes, so a survey block is scanned four times, not ten."""
    if batch.ndim != 4 or batch.shape[1] != len(BANDS):
        raise PreprocessError(f"cutouts must have shape (N, {len(BANDS)}, H, W); got {batch.shape}")
    flat = batch.reshape(*batch.shape[:2], -1)
    finite_px = np.isfinite(flat)
    finite = finite_px.all(axis=(1, 2))
    if not finite.all():  # non-finite pixels count as 0 for the other checks
        flat = np.where(finite_px, flat, 0.0)
    peak, low = flat.max(-1), flat.min(-1)
    all_zero = ((peak == 0) & (low == 0)).all(1)
    band_constant = peak == low  # zeros from a missing band, or any flat band
    saturated = (np.count_nonzero(flat == peak[..., None], axis=-1) >= SATURATION_MIN_PIXELS) & (peak > 0)
    out = np.full(batch.shape[0], "", dtype=object)
    out[saturated.any(1)] = "saturated"
    out[band_constant.any(1)] = "missing_band"
    out[all_zero] = "all_zero"
    out[~finite] = "non_finite"
    return out


# --------------------------------------------------------------------------------------------
# Normalisation and split
# --------------------------------------------------------------------------------------------
def band_maxima(batch: np.ndarray) -> np.ndarray:
    """(N, 3) maximum of each cutout in each band [the cutouts' unit, nanomaggies]."""
    return batch.reshape(*batch.shape[:2], -1).max(-1)


def normalise(batch: np.ndarray, band_max_mean: Sequence[float], beta: float = values.EQ1_BETA) -> np.ndarray:
    """Eq. 1: tanh(asinh(β x_b / ⟨max x_b⟩)) per band; ⟨max x_b⟩ in the cutouts' unit, output in (-1, 1).

    float32 input is worked in place in one output array (the same operations in the same order,
    so the same bits as the allocating form used for other dtypes)."""
    m = np.asarray(band_max_mean, np.float32)
    if m.shape != (batch.shape[1],) or not np.all(m > 0):
        raise ValueError(f"band_max_mean must be {batch.shape[1]} positive values, got {m}")
    if isinstance(batch, np.ndarray) and batch.dtype == np.float32:
        out = np.multiply(np.float32(beta), batch)
        np.divide(out, m[None, :, None, None], out=out)
        np.arcsinh(out, out=out)
        return np.tanh(out, out=out)
    return np.tanh(np.arcsinh(np.float32(beta) * batch / m[None, :, None, None])).astype(np.float32)


def assign_split(catalog: pd.DataFrame, seed: int = SPLIT_SEED,
                 train_fraction: float = values.TRAIN_FRACTION) -> pd.Series:
    """train/val for normal galaxies (fixed-seed permutation), anomaly for Green Peas/Red Spirals."""
    split = pd.Series("anomaly", index=catalog.index, dtype=object)
    normal = np.flatnonzero((catalog["class"] == "normal").to_numpy())
    perm = np.random.default_rng(seed).permutation(normal.size)
    n_train = int(round(train_fraction * normal.size))
    split.iloc[normal[perm[:n_train]]] = "train"
    split.iloc[normal[perm[n_train:]]] = "val"
    return split


# --------------------------------------------------------------------------------------------
# The survey-level run, step by step
# --------------------------------------------------------------------------------------------
def processed_dir(cfg: "RunConfig") -> Path:
    """``data/processed/<source>-<profile>/survey_a``: where 02_preprocess writes."""
    return cfg.data_dir("processed", "survey_a")


def check_interim(h5, catalog: pd.DataFrame, src: Path):
    """The ``images`` dataset of an open interim ``cutouts.h5``, after checking its shape and that
    its ids are the catalog's rows in order."""
    images = h5["images"]
    if images.ndim != 4 or images.shape[1:] != (len(BANDS), RAW_SIZE, RAW_SIZE):
        raise PreprocessError(f"{src / 'cutouts.h5'}: images must be (N, 3, {RAW_SIZE}, "
                              f"{RAW_SIZE}) g, r, z; got {images.shape}")
    file_ids = h5["id"][:]
    if len(file_ids) != len(catalog) or not np.array_equal(file_ids, catalog["id"].to_numpy()):
        raise PreprocessError(f"{src}: cutouts.h5 ids do not match catalog.parquet rows")
    return images


def photutils_subset(n: int, n_check: int, seed: int) -> np.ndarray:
    """(n,) bool: the seeded subset of galaxies also measured with photutils."""
    check = np.zeros(n, bool)
    check[np.random.default_rng([seed, 2]).choice(n, min(int(n_check), n), replace=False)] = True
    return check


@dataclass
class Measurements:
    """What the first pass over the interim cutouts found, one row per interim row."""

    drops: DropLog
    fast: pd.DataFrame  # orientation_fast: orientation [rad], centre_dist [px], area [px], ellipticity
    photutils: pd.DataFrame  # the same columns from photutils; NaN where it was not run
    maxima: np.ndarray  # (N, 3) band maxima [nanomaggies]


def measure_cutouts(images, ids: np.ndarray, check: np.ndarray, max_drop_fraction: float,
                    chunk: int = CHUNK) -> Measurements:
    """Pass 1: drop reasons, fast orientations and band maxima of every cutout, photutils on the
    usable ones among ``check``. Fails (:class:`PreprocessError`) when too many are dropped."""
    n = len(ids)
    drops = DropLog()
    fast, maxima, phot = [], np.full((n, len(BANDS)), np.nan), {}
    for start in range(0, n, chunk):
        batch = images[start:start + chunk]
        rows = slice(start, start + len(batch))
        reasons = cutout_problems(batch)
        measured = orientation_fast(np.where(np.isfinite(batch), batch, 0))
        measured.index = range(start, start + len(batch))
        fast.append(measured)
        far = (reasons == "") & ~(measured["centre_dist"].to_numpy() <= MAX_CENTRE_DIST)
        reasons[far] = "no_central_source"
        for r in DROP_REASONS:
            drops.add(r, ids[rows][reasons == r])
        maxima[rows] = band_maxima(batch)
        for i in np.flatnonzero(check[rows] & (reasons == "")):
            phot[start + i] = orientation_photutils(batch[i])
    drops.check(n, max_drop_fraction)
    phot = pd.DataFrame.from_dict(phot, orient="index", columns=list(MEASUREMENT_COLUMNS))
    return Measurements(drops, pd.concat(fast), phot.reindex(range(n)).astype(float), maxima)


def kept_catalog(catalog: pd.DataFrame, measured: Measurements,
                 method: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(processed catalog, interim rows kept): the rows not dropped, with their orientation [rad]
    (``method``'s; a galaxy photutils misses keeps the fast value), its 0.1 rad error, the
    fast-path source diagnostics and the train/val/anomaly split."""
    dropped = catalog["id"].isin(measured.drops.all_ids()).to_numpy()
    keep = np.flatnonzero(~dropped)
    out = catalog.iloc[keep].reset_index(drop=True)
    out["orientation_fast"] = measured.fast["orientation"].to_numpy()[keep]
    out["orientation_photutils"] = measured.photutils["orientation"].to_numpy()[keep]
    if method == "photutils":  # a galaxy photutils misses keeps the fast value (counted in agreement)
        out["orientation"] = np.where(np.isfinite(out["orientation_photutils"]),
                                      out["orientation_photutils"], out["orientation_fast"])
    else:
        out["orientation"] = out["orientation_fast"]
    out["orientation_err"] = values.ORIENTATION_SIGMA
    out["orientation_method"] = method
    for col in ("centre_dist", "area", "ellipticity"):
        out[f"source_{col}"] = measured.fast[col].to_numpy()[keep]
    out["split"] = assign_split(out).to_numpy()
    return out, keep


def write_normalised_images(path: Path, images, keep: np.ndarray, ids: np.ndarray,
                            band_max_mean: np.ndarray, beta: float, size: int, chunk: int = CHUNK) -> None:
    """Pass 2: eq. 1 with the training ⟨max⟩, resize to ``size`` px, write ``images.h5`` atomically
    (datasets ``images`` float32 (N, 3, size, size) and ``id``; row i ↔ ``keep[i]``)."""
    import h5py

    from raregal.core.outputs import atomic_path

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5o:
            ds = h5o.create_dataset("images", (len(keep), len(BANDS), size, size), "f4",
                                    chunks=(min(64, max(len(keep), 1)), len(BANDS), size, size))
            h5o.create_dataset("id", data=ids)
            ds.attrs.update({"bands": ",".join(BANDS), "normalisation": "eq1 tanh(asinh)",
                             "beta": beta, "band_max_mean": band_max_mean})
            written = 0
            for start in range(0, len(keep), chunk):
                rows = keep[start:start + chunk]
                batch = images[rows[0]:rows[-1] + 1][rows - rows[0]]
                ds[written:written + len(rows)] = resize(normalise(batch, band_max_mean, beta), size)
                written += len(rows)


def write_catalog_and_norm(dst: Path, catalog: pd.DataFrame, band_max_mean: np.ndarray, beta: float,
                           size: int) -> dict:
    """Write ``catalog.parquet`` and ``norm.json`` (atomically); returns the norm record."""
    from raregal.core.outputs import atomic_path

    with atomic_path(dst / "catalog.parquet") as tmp:
        catalog.to_parquet(tmp, index=False)
    norm = {"bands": list(BANDS), "band_max_mean": dict(zip(BANDS, map(float, band_max_mean))),
            "beta": float(beta), "computed_on": "train", "n_train": int((catalog["split"] == "train").sum()),
            "split_seed": SPLIT_SEED, "train_fraction": values.TRAIN_FRACTION, "size": int(size)}
    with atomic_path(dst / "norm.json") as tmp:
        tmp.write_text(json.dumps(norm, indent=1))
    return norm


def preprocess_survey(cfg: "RunConfig", chunk: int = CHUNK) -> dict:
    """Interim cutouts + catalog → processed images.h5, catalog.parquet, norm.json (atomic writes).

    Pass 1 (:func:`measure_cutouts`) streams the cutouts once for drops, orientations and per-band
    maxima; pass 2 (:func:`write_normalised_images`) normalises with the training ⟨max⟩ and resizes.
    photutils runs on a seeded subset of ``preprocess.n_photutils_check`` galaxies (all of them when
    ``orientation_method="photutils"``). Returns the drop log, counts and orientation agreement."""
    import h5py

    from raregal.core.config import require

    p = cfg.preprocess
    if p.orientation_method not in ("fast", "photutils"):
        raise PreprocessError(f"preprocess.orientation_method must be 'fast' or 'photutils', "
                              f"got {p.orientation_method!r}")
    src = cfg.data_dir("interim", "survey_a")
    cat = pd.read_parquet(require(src / "catalog.parquet", made_by="01_fetch"))
    with h5py.File(require(src / "cutouts.h5", made_by="01_fetch"), "r") as h5:
        images = check_interim(h5, cat, src)
        n = len(cat)
        n_check = n if p.orientation_method == "photutils" else p.n_photutils_check
        measured = measure_cutouts(images, cat["id"].to_numpy(), photutils_subset(n, n_check, cfg.seed),
                                   p.max_drop_fraction, chunk)
        out, keep = kept_catalog(cat, measured, p.orientation_method)
        train = (out["split"] == "train").to_numpy()
        if not train.any():
            raise PreprocessError("no training galaxies left after drops")
        band_max_mean = np.nanmean(measured.maxima[keep][train], axis=0)
        dst = processed_dir(cfg)
        write_normalised_images(dst / "images.h5", images, keep, out["id"].to_numpy(np.int64),
                                band_max_mean, p.beta, p.size, chunk)
    norm = write_catalog_and_norm(dst, out, band_max_mean, p.beta, p.size)
    return {"drops": measured.drops, "n_input": n, "n_kept": len(out), "norm": norm,
            "agreement": orientation_agreement(out), "catalog": out}


# --------------------------------------------------------------------------------------------
# Loaders for the notebooks after 02
# --------------------------------------------------------------------------------------------
def load_processed(cfg: "RunConfig", in_memory: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """(images, catalog) of 02_preprocess for this profile/source.

    images: float32 (N, 3, size, size) g, r, z after eq. 1, row i ↔ catalog row i. With
    ``in_memory=False`` an open read-only ``h5py`` dataset is returned instead (slice it in batches).
    catalog: the interim catalog's kept rows plus ``orientation``, ``orientation_err`` [rad],
    ``split`` (train | val | anomaly) and the orientation diagnostics."""
    import h5py

    from raregal.core.config import require

    d = processed_dir(cfg)
    catalog = pd.read_parquet(require(d / "catalog.parquet", made_by="02_preprocess"))
    h5 = h5py.File(require(d / "images.h5", made_by="02_preprocess"), "r")
    if h5["images"].shape[0] != len(catalog):
        h5.close()
        raise PreprocessError(f"{d}: images.h5 has {h5['images'].shape[0]} rows, catalog "
                              f"{len(catalog)}; rerun 02_preprocess")
    if not in_memory:
        return h5["images"], catalog
    with h5:
        return h5["images"][:], catalog


def load_norm(cfg: "RunConfig") -> dict:
    """``norm.json`` of 02_preprocess: bands, per-band training ⟨max⟩ [nanomaggies], β, split facts."""
    from raregal.core.config import require

    return json.loads(require(processed_dir(cfg) / "norm.json", made_by="02_preprocess").read_text())
