"""The catalogs that have an address, downloaded into ``data/raw/catalogs/`` under the names the readers
look for; the others stay user-supplied.

Why here: paper A's GAMA stellar masses, paper A's Zou et al. 2022 deep-field catalog and paper B's
GSWLC-2 physical columns can be fetched (addresses in :data:`REMOTE`); Red Spirals (Masters et al.
2010), Green Peas, the Kaviraj et al. 2012 D-ETGs, halo masses (Yang et al. 2012), GAMA positions
and MagPhys SFRs cannot (:data:`USER_SUPPLIED`). Every download is cached, checksummed (a
``<file>.sha256`` beside it, as for every fetched file) and checked before it takes its final name
(staged in ``.download/``, then renamed), so a failed or refused download leaves nothing behind and a
second run downloads nothing. A file already present, fetched or put there by the user, is kept.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable
from urllib.parse import urlsplit

import pandas as pd

from raregal.core.outputs import atomic_path
from raregal.fetch import gama, gswlc, vizier
from raregal.fetch.catalogs import CatalogError, find_catalog_file, read_table
from raregal.fetch.http import (
    FetchError,
    RetryPolicy,
    check_reachable,
    download_file,
    make_session,
    sha256_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

STAGING = ".download"
PHYSICAL_FILE = "gz2_physical.csv.gz"


@dataclass(frozen=True)
class RemoteCatalog:
    """One catalog with a stable address: where it comes from and which reader file it becomes."""

    key: str
    title: str
    url: str
    filename: str  # cached name in data/raw/catalogs/
    kind: str  # the catalogs.CATALOG_FILES entry it fills
    size: str
    paper: str


REMOTE = {
    "gama": RemoteCatalog("gama", "GAMA DR4 StellarMassesGKVv24 (Driver et al. 2022)", gama.GAMA_URL,
                          gama.GAMA_FILE, "gama_stellar_masses", "≈178 MB, 370,116 rows", "A"),
    "zou22": RemoteCatalog("zou22", "Zou et al. 2022 (VizieR J/ApJS/262/15, TAP)", vizier.TAP_URL,
                           vizier.ZOU22_FILE, "zou22", "the 0 < z < 1 rows of ≈2.8M", "A"),
    "gswlc": RemoteCatalog("gswlc", "GSWLC-2 (Salim et al. 2016, 2018)", gswlc.GSWLC_URL,
                           gswlc.GSWLC_FILE, "gz2_physical", "659,229 rows", "B"),
}
SURVEY_A = ("gama", "zou22")
SURVEY_B = ("gswlc",)
USER_SUPPLIED = {
    "green_peas": "Green Peas (KISS sample, paper A ref. [4]): green_peas.csv with ra, dec",
    "red_spirals": "Red Spirals (Masters et al. 2010): red_spirals.csv with ra, dec",
    "gama_positions": "GAMA positions (gkvScienceCatv02: uberID, RAcen, Deccen): gkvScienceCatv02.fits",
    "gama_magphys": "GAMA MagPhysv06 SFRs (CATAID, SFR_0_1Gyr_percentile16/50/84): MagPhysv06.fits",
    "detg_kaviraj12": "Kaviraj et al. 2012 D-ETGs: detg_kaviraj12.csv with dr7objid or ra, dec",
    "gz2_halo_masses": "halo masses (Yang et al. 2012): gz2_halo_masses.csv with dr7objid, loghalomass",
}


def with_base(url: str, base: str | None) -> str:
    """``url`` on another host (a mirror or a test server): ``base`` replaces its scheme and host."""
    if not base:
        return url
    parts = urlsplit(url)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def addresses(base_url: str | None = None, **urls: str | None) -> dict[str, str]:
    """Address per catalog: the public one, moved to ``base_url`` if given, or ``urls[key]``."""
    return {k: urls.get(k) or with_base(r.url, base_url) for k, r in REMOTE.items()}


def _write_sidecar(path: Path) -> None:
    with atomic_path(path.with_name(path.name + ".sha256")) as tmp:
        tmp.write_text(f"{sha256_of(path)}  {path.name}\n")


def verify_cached(path: Path) -> str:
    """'cached' when ``path`` matches its ``.sha256``, 'present' when it has none (a user file)."""
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.exists():
        return "present"
    if sidecar.read_text().split()[0] != sha256_of(path):
        raise CatalogError(f"{path} differs from the file that was downloaded (its .sha256); "
                           f"delete both to download it again")
    return "cached"


def _explain(err: FetchError, what: RemoteCatalog, url: str, dest: Path) -> FetchError:
    reason = getattr(err, "reason", str(err))
    if "403" in reason:
        todo = f"the server refused this client: download {url} in a browser and put it at {dest}"
    elif "404" in reason:
        todo = f"the file is not at this address (moved?): find it and put it at {dest}"
    else:
        todo = f"rerun later (nothing was kept), or put the file at {dest} yourself"
    return FetchError(f"{what.title}: {reason} from {url}; {todo}")


def _discard(staged: Path) -> None:
    for p in (staged, staged.with_name(staged.name + ".sha256")):
        p.unlink(missing_ok=True)
    if staged.parent.is_dir() and not any(staged.parent.iterdir()):
        staged.parent.rmdir()


def _promote(staged: Path, dest: Path) -> Path:
    """Give a checked file its final name: the .sha256 first, so a file never lacks its checksum."""
    os.replace(staged.with_name(staged.name + ".sha256"), dest.with_name(dest.name + ".sha256"))
    os.replace(staged, dest)
    _discard(staged)
    return dest


def download_checked(what: RemoteCatalog, url: str, dest: Path, check: Callable[[Path], object],
                     session, policy: RetryPolicy) -> Path:
    """Download ``url`` to ``dest`` only if ``check`` accepts the file; a rejected one is deleted."""
    staged = dest.parent / STAGING / dest.name
    instead = f"download {url} yourself to {dest}"
    check_reachable(url, instead=instead, session=session)
    print(f"downloading {what.title} ({what.size}) from {url}")
    try:
        try:
            download_file(url, staged, session, policy, instead=instead)
            check(staged)
        except FetchError as err:
            raise _explain(err, what, url, dest) from None
        except CatalogError as err:
            raise CatalogError(f"{what.title} from {url}: {err}") from None
    except BaseException:
        _discard(staged)
        raise
    return _promote(staged, dest)


def _fetch_zou22(what: RemoteCatalog, url: str, dest: Path, session, policy: RetryPolicy,
                 z_max: float, units: dict | None) -> Path:
    staged = dest.parent / STAGING / dest.name
    check_reachable(url, instead=f"save the table yourself as {dest.with_suffix('.csv')}",
                    session=session)
    print(f"querying {what.title} for 0 < z < {z_max:g} at {url}")
    try:
        table = vizier.fetch_zou22(url, session, policy, z_max, units=units)
        staged.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(staged) as tmp:
            table.write(tmp, format="ascii.ecsv", overwrite=True)
        _write_sidecar(staged)
    except BaseException:
        _discard(staged)
        raise
    return _promote(staged, dest)


def fetch_one(key: str, catalog_dir: Path, url: str, policy: RetryPolicy = RetryPolicy(),
              z_max: float = 1.0, zou22_units: dict | None = None) -> str:
    """One catalog into ``catalog_dir`` unless present; returns what happened (downloaded | cached |
    present, the latter for a file the user put there)."""
    what = REMOTE[key]
    present = find_catalog_file(catalog_dir, what.kind)
    if key == "gswlc" and present is not None and present.name == PHYSICAL_FILE:
        present = None  # our own table made from GSWLC: look at the download itself
    if present is None and key == "gswlc" and (catalog_dir / what.filename).exists():
        present = catalog_dir / what.filename
    if present is not None:
        return f"{verify_cached(present)} ({present.name})"
    dest = catalog_dir / what.filename
    session = make_session(1)
    try:
        if key == "zou22":
            _fetch_zou22(what, url, dest, session, policy, z_max, zou22_units)
        else:
            if key == "gama":
                session.headers["User-Agent"] = gama.BROWSER_USER_AGENT
            check = gama.check_gama_fits if key == "gama" else gswlc.read_gswlc
            download_checked(what, url, dest, check, session, policy)
    finally:
        session.close()
    return f"downloaded ({dest.name}, {dest.stat().st_size / 1e6:.1f} MB)"


def write_physical(catalog_dir: Path, gz2_catalog: pd.DataFrame) -> str:
    """``gz2_physical.csv.gz`` from the cached GSWLC-2 file for these GZ2 galaxies (+ halo masses).

    Remade on every call (it depends on the GZ2 catalog); a user's own ``gz2_physical.*`` is kept.
    """
    mine = catalog_dir / PHYSICAL_FILE
    present = find_catalog_file(catalog_dir, "gz2_physical")
    ours = present == mine and mine.with_name(mine.name + ".sha256").exists()
    if present is not None and not ours:
        return f"present ({present.name}, user file; GSWLC not joined)"
    source = catalog_dir / gswlc.GSWLC_FILE
    if not source.exists():
        return f"not made: {source.name} is not there"
    if not gz2_catalog[["ra", "dec"]].notna().all(axis=1).any():
        return "not made: the GZ2 catalog has no positions (Kaggle form), GSWLC is joined by position"
    halo_path = find_catalog_file(catalog_dir, "gz2_halo_masses")
    halo = read_table(halo_path)[0] if halo_path is not None else None
    table = gswlc.physical_table(gswlc.read_gswlc(source), gz2_catalog, halo_masses=halo)
    with atomic_path(mine) as tmp:
        table.to_csv(tmp, index=False, compression="gzip")
    _write_sidecar(mine)
    drops = ", ".join(f"{k}: {v}" for k, v in table.attrs["drops"].items() if v) or "none"
    halo_note = f"halo masses from {halo_path.name}" if halo is not None else "no halo masses"
    return f"made ({mine.name}: {len(table)} GZ2 galaxies with GSWLC values; dropped {drops}; {halo_note})"


def catalog_dir_of(cfg_or_dir) -> Path:
    return Path(cfg_or_dir) if isinstance(cfg_or_dir, (str, Path)) else cfg_or_dir.paths.raw / "catalogs"


def fetch_catalogs(cfg: "RunConfig | Path | str", only: Iterable[str] | None = None,
                   urls: dict[str, str] | None = None, policy: RetryPolicy = RetryPolicy(),
                   gz2_catalog: pd.DataFrame | None = None, z_max: float = 1.0,
                   zou22_units: dict | None = None, strict: bool = True) -> dict[str, str]:
    """Download the catalogs that have an address (``only``: keys of :data:`REMOTE`), skipping those
    present, into ``data/raw/catalogs/`` (or the folder given instead of ``cfg``).

    ``urls`` maps keys to addresses (default :func:`addresses`: the public ones). With
    ``gz2_catalog`` (dr7objid, ra, dec) the GSWLC values are also written as ``gz2_physical.csv.gz``.
    Every requested catalog is tried; failures are listed, then raised together when ``strict``
    (else printed, so a run can go on with the catalogs it has). Returns key → what happened.
    """
    catalog_dir = catalog_dir_of(cfg)
    keys = list(only) if only is not None else list(REMOTE)
    unknown = [k for k in keys if k not in REMOTE]
    if unknown:
        raise CatalogError(f"unknown catalog(s) {unknown}; choose from {list(REMOTE)}")
    urls = {**addresses(), **(urls or {})}
    catalog_dir.mkdir(parents=True, exist_ok=True)
    status, failed = {}, []
    for key in keys:
        try:
            status[key] = fetch_one(key, catalog_dir, urls[key], policy, z_max, zou22_units)
        except (FetchError, CatalogError) as err:
            status[key] = f"failed: {err}"
            failed.append(err)
    if "gswlc" in keys and gz2_catalog is not None and not status["gswlc"].startswith("failed"):
        status["gz2_physical"] = write_physical(catalog_dir, gz2_catalog)
    for key, what in status.items():
        print(f"catalog {key}: {what}")
    if failed and strict:
        if len(failed) == 1:
            raise failed[0]
        raise CatalogError(f"{len(failed)} catalog downloads failed:\n  " +
                           "\n  ".join(str(e) for e in failed))
    return status


def user_supplied_status(catalog_dir: Path | str) -> dict[str, str]:
    """For each user-supplied catalog: the file found, or what to put where."""
    catalog_dir = Path(catalog_dir)
    return {k: (f"found {p.name}" if (p := find_catalog_file(catalog_dir, k)) else f"absent: {text}")
            for k, text in USER_SUPPLIED.items()}


def fetch_for_run(cfg: "RunConfig", only: Iterable[str], public_service: bool,
                  urls: dict[str, str] | str | None = None, download: bool | None = None,
                  policy: RetryPolicy = RetryPolicy(), catalog_dir: Path | str | None = None,
                  gz2_catalog: pd.DataFrame | None = None) -> dict[str, str] | None:
    """What ``prepare_survey_a`` / ``prepare_gz2`` do before they look for catalog files.

    Downloads ``only`` (skipping those present) when ``download`` is True, or, when it is None, if
    the run uses the public data service (``public_service``) or ``urls`` were given: a run pointed
    at a mirror or a test server does not reach out to the public catalog services on its own.
    ``urls`` is a dict (key → address) or one base URL (a mirror: :func:`addresses`). Failures are
    printed, not raised: the run goes on with the catalogs it has. None when skipped.
    """
    if isinstance(urls, str):
        urls = addresses(urls)
    if download is None:
        download = public_service or urls is not None
    if not download:
        return None
    return fetch_catalogs(catalog_dir or cfg, only, urls, policy, gz2_catalog=gz2_catalog,
                          strict=False)
