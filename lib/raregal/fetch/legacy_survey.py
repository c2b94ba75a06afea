"""Paper A's real images: grz FITS cutouts from the Legacy Surveys cutout service, cached and resumable.

Why this shape: ~26,000 cutouts at a polite ≈0.8 s per request take hours, and the service fails
now and then. Each cutout is cached under ``data/raw/legacy_survey/`` keyed by (ra, dec, layer,
size, bands, pixscale), written atomically and validated (a FITS cube of 3 finite bands of the
expected size) before it counts; a rerun fetches only what is missing; failures come back as a table
(id, reason) instead of a crash. :func:`prepare_survey_a` then writes the same interim layout as the
mock survey (``cutouts.h5`` + ``catalog.parquet``, see CONTRIBUTING.md).
"""
from __future__ import annotations

import io
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import h5py
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from tqdm.auto import tqdm

from raregal.core.outputs import atomic_path
from raregal.fetch.http import (
    FetchError,
    InvalidContentError,
    RateLimiter,
    RetryPolicy,
    check_reachable,
    make_session,
    request_with_retries,
)

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

LEGACY_SURVEY_URL = "https://www.legacysurvey.org/viewer"
FAILURE_COLUMNS = ("id", "ra", "dec", "reason")


@dataclass(frozen=True)
class CutoutSpec:
    """What one cutout is: layer (ls-dr10 covers the south, Dec ≤ 32.375°), bands, size, pixel scale."""

    layer: str = "ls-dr10"
    bands: str = "grz"
    size: int = 128
    pixscale: float = 0.262

    def params(self, ra: float, dec: float) -> dict:
        return {"ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "layer": self.layer,
                "pixscale": f"{self.pixscale:g}", "bands": self.bands, "size": str(self.size)}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.bands), self.size, self.size)


def cache_path(cache_dir: Path | str, ra: float, dec: float, spec: CutoutSpec = CutoutSpec()) -> Path:
    """``<cache>/<layer>/<bands>-<size>px-<pixscale>/<ra>_<dec>.fits`` (6 decimals ≈ 4 mas)."""
    folder = Path(cache_dir) / spec.layer / f"{spec.bands}-{spec.size}px-{spec.pixscale:g}"
    return folder / f"{ra:.6f}_{dec:+.6f}.fits"


def read_cutout(data: bytes | Path | str, spec: CutoutSpec = CutoutSpec()) -> np.ndarray:
    """The cube ``[band, y, x]`` as float32, or :class:`InvalidContentError` saying what is wrong."""
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        with warnings.catch_warnings():  # a garbled header warns before it fails: the error suffices
            warnings.simplefilter("ignore", VerifyWarning)
            with fits.open(source, memmap=False) as hdul:
                cube = next((h.data for h in hdul if h.data is not None), None)
                cube = None if cube is None else np.array(cube, dtype=np.float32)
    except Exception as err:  # astropy raises OSError/ValueError/TypeError for garbage
        raise InvalidContentError(f"not a readable FITS file ({type(err).__name__}: {err})") from None
    if cube is None:
        raise InvalidContentError("FITS file holds no image data")
    if cube.shape != spec.shape:
        nb = 1 if cube.ndim == 2 else cube.shape[0]
        raise InvalidContentError(f"expected {len(spec.bands)} bands ({spec.bands}) of "
                                  f"{spec.size}x{spec.size} px, got shape {cube.shape} "
                                  f"({nb} band{'s' if nb != 1 else ''})")
    bad = int((~np.isfinite(cube)).sum())
    if bad:
        raise InvalidContentError(f"{bad} non-finite pixel values")
    return cube


@dataclass
class CutoutFetchReport:
    """Outcome of a batch: cached path per id, failures (id, ra, dec, reason), counts."""

    paths: dict[int, Path] = field(default_factory=dict)
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    n_cached: int = 0
    n_downloaded: int = 0

    def summary(self) -> str:
        return (f"{len(self.paths)} cutouts ready ({self.n_cached} from cache, "
                f"{self.n_downloaded} downloaded), {len(self.failures)} failed")


def fetch_cutout(ra: float, dec: float, cache_dir: Path | str, spec: CutoutSpec = CutoutSpec(),
                 base_url: str = LEGACY_SURVEY_URL, policy: RetryPolicy = RetryPolicy(),
                 session=None, limiter: RateLimiter | None = None) -> tuple[Path, bool]:
    """One cutout into the cache; returns (path, downloaded?). A valid cached file is reused."""
    path = cache_path(cache_dir, ra, dec, spec)
    if path.exists():
        try:
            read_cutout(path, spec)
            return path, False
        except InvalidContentError:
            path.unlink()  # damaged by hand or by an older version: fetch again
    session = session or make_session(1)
    url = base_url.rstrip("/") + "/fits-cutout"
    body = request_with_retries(session, url, spec.params(ra, dec), policy, limiter,
                                validate=lambda b: (read_cutout(b, spec), b)[1])
    with atomic_path(path) as tmp:
        tmp.write_bytes(body)
    return path, True


def fetch_cutouts(targets: pd.DataFrame, cache_dir: Path | str, spec: CutoutSpec = CutoutSpec(),
                  base_url: str = LEGACY_SURVEY_URL, policy: RetryPolicy = RetryPolicy(),
                  workers: int = 4, progress: bool = True,
                  on_result: Callable[[int, Path | None, str], None] | None = None) -> CutoutFetchReport:
    """Fetch every (id, ra, dec) row with bounded concurrency and one shared politeness interval.

    Interrupting (Ctrl-C) keeps every finished cutout; running again fetches only what is missing.
    ``on_result(id, path_or_None, reason)`` is called in the main thread after each target.
    """
    missing = [c for c in ("id", "ra", "dec") if c not in targets.columns]
    if missing:
        raise ValueError(f"cutout targets need columns {missing}; have {list(targets.columns)}")
    report = CutoutFetchReport()
    failures = []
    session = make_session(max(workers, 1))
    limiter = RateLimiter(policy.delay)
    rows = list(targets[["id", "ra", "dec"]].itertuples(index=False))
    bar = tqdm(total=len(rows), desc=f"cutouts {spec.layer} {spec.bands}", unit="img",
               disable=not progress)
    pool = ThreadPoolExecutor(max_workers=max(workers, 1))
    try:
        futures = {pool.submit(fetch_cutout, float(r.ra), float(r.dec), cache_dir, spec, base_url,
                               policy, session, limiter): r for r in rows}
        for fut in as_completed(futures):
            r = futures[fut]
            try:
                path, downloaded = fut.result()
            except FetchError as err:
                failures.append((int(r.id), float(r.ra), float(r.dec), err.reason))
                path, reason = None, err.reason
            else:
                report.paths[int(r.id)] = path
                report.n_downloaded += downloaded
                report.n_cached += not downloaded
                reason = ""
            bar.update(1)
            if on_result is not None:
                on_result(int(r.id), path, reason)
    finally:
        # On an interrupt: drop queued work, let in-flight downloads finish their atomic write.
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        session.close()
    report.failures = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    return report


def write_cutouts_h5(ids: np.ndarray, paths: list[Path], out: Path | str,
                     spec: CutoutSpec = CutoutSpec()) -> Path:
    """Stack cached cutouts into ``cutouts.h5`` (``images`` float32 (N, 3, size, size), ``id`` int64),
    streaming one cutout at a time so survey-sized batches never sit in memory."""
    out = Path(out)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        images = h5.create_dataset("images", shape=(len(paths), *spec.shape), dtype="float32",
                                   chunks=(min(16, len(paths)), *spec.shape) if paths else None)
        h5.create_dataset("id", data=np.asarray(ids, dtype=np.int64))
        images.attrs.update({"bands": ",".join(spec.bands), "units": "nanomaggies",  # as the mock
                             "pixel_scale_arcsec": spec.pixscale, "source": "real",
                             "layer": spec.layer})
        for i, p in enumerate(paths):
            images[i] = read_cutout(p, spec)
    return out


def select_targets(catalog: pd.DataFrame, counts: dict[str, int], seed: int) -> pd.DataFrame:
    """A seeded subsample with at most ``counts[class]`` rows per class (the profile's sizes)."""
    parts = []
    for cls, n in counts.items():
        rows = catalog[catalog["class"] == cls]
        if len(rows) > n:
            rows = rows.sample(n=n, random_state=seed)
        parts.append(rows)
    return pd.concat(parts).sort_values("id").reset_index(drop=True)


def prepare_survey_a(cfg: "RunConfig", base_url: str = LEGACY_SURVEY_URL,
                     catalog_dir: Path | str | None = None, spec: CutoutSpec = CutoutSpec(),
                     policy: RetryPolicy = RetryPolicy(), workers: int = 4,
                     progress: bool = True, catalog_urls: dict[str, str] | str | None = None,
                     download_catalogs: bool | None = None) -> dict:
    """Real paper-A data in the mock's layout: ``cutouts.h5`` + ``catalog.parquet`` (+ failures).

    First downloads the catalogs that have an address (GAMA, Zou et al. 2022; see
    :func:`raregal.fetch.remote_catalogs.fetch_for_run` for when; ``catalog_urls``: a mirror's base
    URL or one address per catalog).
    Reads the catalogs in ``data/raw/catalogs/`` (see :mod:`raregal.fetch.catalogs`), takes the
    profile's number of galaxies per class (``survey_a.n_normal`` …, seeded), fetches their cutouts
    into ``data/raw/legacy_survey/`` and keeps only galaxies whose cutout arrived; the others are
    listed with their reason in ``fetch_failures.csv`` beside the outputs.
    """
    from raregal.fetch import catalogs, remote_catalogs

    catalog_dir = catalog_dir or cfg.paths.raw / "catalogs"
    remote_catalogs.fetch_for_run(cfg, remote_catalogs.SURVEY_A, base_url == LEGACY_SURVEY_URL,
                                  catalog_urls, download_catalogs, policy, catalog_dir=catalog_dir)
    catalog = catalogs.load_survey_a_catalog(catalog_dir)
    counts = {"normal": cfg.survey_a.n_normal, "green_pea": cfg.survey_a.n_green_pea,
              "red_spiral": cfg.survey_a.n_red_spiral}
    targets = select_targets(catalog, counts, cfg.seed)
    cache_dir = cfg.paths.raw / "legacy_survey"
    todo = [r for r in targets.itertuples() if not cache_path(cache_dir, r.ra, r.dec, spec).exists()]
    if todo:
        check_reachable(base_url, instead=(f"copy FITS cutouts named like "
                                           f"{cache_path(cache_dir, todo[0].ra, todo[0].dec, spec)}"))
    report = fetch_cutouts(targets, cache_dir, spec, base_url, policy, workers, progress)
    out_dir = cfg.data_dir("interim", "survey_a")
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = targets[targets["id"].isin(report.paths)].reset_index(drop=True)
    write_cutouts_h5(kept["id"].to_numpy(), [report.paths[i] for i in kept["id"]],
                     out_dir / "cutouts.h5", spec)
    with atomic_path(out_dir / "catalog.parquet") as tmp:
        kept.to_parquet(tmp, index=False)
    failures = report.failures.merge(targets[["id", "class"]], on="id", how="left")
    with atomic_path(out_dir / "fetch_failures.csv") as tmp:
        failures.to_csv(tmp, index=False)
    print(f"survey_a (real): {report.summary()}; wrote {len(kept)} galaxies to {out_dir}"
          + (f"; failures listed in {out_dir / 'fetch_failures.csv'}" if len(failures) else ""))
    return {"n_requested": len(targets), "n_kept": len(kept), "n_failed": len(failures),
            "n_cached": report.n_cached, "n_downloaded": report.n_downloaded,
            "by_class": kept["class"].value_counts().to_dict(),
            "failures_csv": out_dir / "fetch_failures.csv", "out_dir": out_dir}


def estimate_fetch_seconds(n: int, delay: float = RetryPolicy.delay, workers: int = 4,
                           latency: float = 1.0) -> float:
    """Wall time for ``n`` cutouts: one request start per ``delay`` seconds at most, and at most
    ``workers`` requests in flight each taking ``latency`` seconds (an assumption; measure yours)."""
    rate = min(1.0 / delay if delay > 0 else float("inf"), workers / latency)
    return n / rate


def cutout_bytes(spec: CutoutSpec = CutoutSpec()) -> int:
    """Size of one float32 FITS cutout: a 2880-byte header block plus data padded to 2880 bytes."""
    data = 4 * len(spec.bands) * spec.size ** 2
    return 2880 + -(-data // 2880) * 2880
