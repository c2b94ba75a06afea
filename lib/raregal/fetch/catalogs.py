"""Paper A's galaxy catalogs, from whatever files the user has, into one schema.

Why: the paper combines GAMA DR4 (z, M*, SFR with errors), Zou et al. 2022 (CIGALE fits in the LSST
deep fields), 13 KISS Green Peas and 294 Masters et al. 2010 Red Spirals. None of these has a stable
machine-readable address with known column names, so they are files the user puts in
``data/raw/catalogs/`` (names in :data:`CATALOG_FILES`); each reader finds its columns by a list of
known spellings (or ``columns={...}``), converts units with astropy (:mod:`raregal.fetch.catalog_units`:
linear M☉ → log; log SFR per Gyr, as the authors' code used (GAMA value + 9), → log SFR per yr, the
contract here) and says exactly which column or file is missing.

Output schema (:data:`SCHEMA`): ``id`` (int64, assigned here), ``ra``, ``dec`` [deg], ``z``,
``z_err``, ``logmstar``, ``logmstar_err`` [log10 M☉], ``logsfr``, ``logsfr_err`` [log10 M☉/yr],
``class`` (normal | green_pea | red_spiral), plus ``catalog`` and ``catalog_id`` (the source row).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.table import Table

from raregal.fetch.catalog_units import (
    LOG_MASS,
    LOG_SFR,
    CatalogError,
    as_unit,
    log_error,
    reread_unit,
    resolve_unit,
    to_log10,
)

SCHEMA = ("id", "ra", "dec", "z", "z_err", "logmstar", "logmstar_err", "logsfr", "logsfr_err",
          "class")
CLASSES = ("normal", "green_pea", "red_spiral")
Z_MAX = 1.0  # the paper's z < 1 spectroscopic sample
SPECZ_ERR = 0.0  # z_err when a catalog gives none: spectroscopic errors (~1e-4) are negligible here

# File names looked for in data/raw/catalogs/ (first match wins; any of the extensions).
CATALOG_FILES = {
    "gama_stellar_masses": ("StellarMassesGKVv24", "gama_stellar_masses"),
    "gama_magphys": ("MagPhysv06", "gama_magphys"),
    "gama_positions": ("gkvScienceCatv02", "gama_positions"),  # uberID, RAcen, Deccen (no address)
    "zou22": ("zou22", "Zou22", "J_ApJS_262_15"),
    "green_peas": ("green_peas",),
    "red_spirals": ("red_spirals",),
    "gz2_physical": ("gz2_physical",),  # paper B: dr7objid, z, rmag, logmstar, logsfr, loghalomass
    "detg_kaviraj12": ("detg_kaviraj12", "kaviraj12"),  # paper B: D-ETGs (dr7objid or ra, dec)
    "gz2_halo_masses": ("gz2_halo_masses",),  # paper B: dr7objid, loghalomass (Yang et al. 2012)
}
EXTENSIONS = (".fits", ".fit", ".fits.gz", ".parquet", ".csv", ".csv.gz", ".ecsv", ".vot", ".xml")

# Known spellings of each schema column, per catalog (case-insensitive match).
ALIASES = {
    "id": ("CATAID", "uberID", "id", "objid", "ID", "name", "Name"),
    "ra": ("RAcen", "RA", "ra", "RAJ2000", "RA_ICRS", "RAdeg", "_RA"),
    "dec": ("Deccen", "DEC", "Dec", "dec", "DEJ2000", "DE_ICRS", "DEdeg", "_DE"),
    "z": ("Z", "z", "zspec", "z_spec", "Z_SPEC", "redshift", "Z_HELIO"),
    "z_err": ("z_err", "zerr", "Z_ERR", "e_z", "e_zspec"),
    "logmstar": ("logmstar", "logMstar", "logM", "logM*", "mstar", "Mstar", "bayes.stellar.m_star",
                 "mass_stellar"),
    "logmstar_err": ("dellogmstar", "logmstar_err", "e_logMstar", "e_logM", "mstar_err",
                     "e_Mstar", "bayes.stellar.m_star_err"),
    "logsfr": ("logsfr", "logSFR", "SFR", "sfr", "bayes.sfh.sfr"),
    "logsfr_err": ("logsfr_err", "e_logSFR", "sfr_err", "e_SFR", "bayes.sfh.sfr_err"),
}


def find_catalog_file(catalog_dir: Path | str, kind: str) -> Path | None:
    """The first file in ``catalog_dir`` named like ``CATALOG_FILES[kind]`` with a known extension."""
    catalog_dir = Path(catalog_dir)
    for stem in CATALOG_FILES[kind]:
        for ext in EXTENSIONS:
            if (p := catalog_dir / f"{stem}{ext}").exists():
                return p
    return None


def expected_names(kind: str) -> str:
    return " or ".join(f"{s}.fits|.csv|.parquet" for s in CATALOG_FILES[kind])


def read_table(path: Path | str) -> tuple[pd.DataFrame, dict[str, u.UnitBase | None]]:
    """Any catalog file → (DataFrame, unit per column from the file, None where it has none)."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"catalog file {path} does not exist")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            df = pd.read_csv(path)
            return df, {c: None for c in df.columns}
        if name.endswith(".parquet"):
            df = pd.read_parquet(path)
            return df, {c: None for c in df.columns}
        with warnings.catch_warnings():  # units the FITS reader cannot read are read again below
            warnings.simplefilter("ignore", u.UnitsWarning)
            table = Table.read(path)
    except Exception as err:
        raise CatalogError(f"cannot read catalog {path}: {type(err).__name__}: {err}") from None
    units = {c: reread_unit(table[c].unit) for c in table.colnames}
    names = [c for c in table.colnames if len(table[c].shape) <= 1]  # skip vector columns
    df = table[names].to_pandas()
    for c in df.columns:  # FITS strings come back as bytes
        if df[c].dtype == object and len(df) and isinstance(df[c].iloc[0], bytes):
            df[c] = df[c].str.decode("utf-8").str.strip()
    return df, units


def pick_column(df: pd.DataFrame, field: str, where: str, columns: dict | None = None,
                aliases: Iterable[str] | None = None, required: bool = True) -> str | None:
    """The column holding ``field``: ``columns[field]`` if given, else the first known spelling."""
    if columns and field in columns:
        if columns[field] not in df.columns:
            raise CatalogError(f"{where}: column {columns[field]!r} given for {field!r} is not in "
                               f"the file; columns are {list(df.columns)}")
        return columns[field]
    lower = {c.lower(): c for c in df.columns}
    for a in aliases if aliases is not None else ALIASES.get(field, (field,)):
        if a.lower() in lower:
            return lower[a.lower()]
    if required:
        looked = list(aliases if aliases is not None else ALIASES.get(field, (field,)))
        raise CatalogError(f"{where}: missing column for {field!r} (looked for {looked}); columns "
                           f"are {list(df.columns)[:40]}; name it with columns={{'{field}': "
                           f"'<your column>'}}")
    return None


def _percentile_columns(df, stem_aliases) -> tuple[str, str, str] | None:
    """(p16, p50, p84) columns like ``mass_stellar_percentile16/50/84`` (GAMA MagPhys)."""
    lower = {c.lower(): c for c in df.columns}
    for stem in stem_aliases:
        cols = [lower.get(f"{stem}_percentile{p}".lower()) for p in (16, 50, 84)]
        if all(cols):
            return tuple(cols)
    return None


def _standardise(df: pd.DataFrame, units: dict, where: str, cls: str, catalog: str,
                 columns: dict | None, units_override: dict | None, required: tuple[str, ...]):
    """Map one catalog onto SCHEMA (minus id/class) with unit conversion; optional fields → NaN."""
    override = {k: as_unit(v) for k, v in (units_override or {}).items()}

    def unit_of(field: str, col: str, fallback=None):  # the user's unit, else the file's
        for unit in (override.get(field), override.get(col), units.get(col)):
            if unit is not None:
                return unit
        return fallback

    out = pd.DataFrame(index=df.index)
    id_col = pick_column(df, "id", where, columns, required=False)
    out["catalog"] = catalog
    out["catalog_id"] = df[id_col].astype(str) if id_col else df.index.astype(str)
    for f in ("ra", "dec", "z", "z_err"):
        c = pick_column(df, f, where, columns, required=f in required)
        out[f] = pd.to_numeric(df[c], errors="coerce").astype(float) if c else np.nan
    if "z_err" not in (columns or {}) and out["z_err"].isna().all():
        out["z_err"] = SPECZ_ERR if out["z"].notna().any() else np.nan
    for f, target, pct in (("logmstar", LOG_MASS, ("mass_stellar",)),
                           ("logsfr", LOG_SFR, ("SFR_0_1Gyr", "sfr"))):
        trio = None if (columns and f in columns) else _percentile_columns(df, pct)
        if trio:  # MagPhys style: median and 16/84 percentiles
            unit50 = resolve_unit(df[trio[1]], unit_of(f, trio[1]), target, trio[1])
            lo, mid, hi = (to_log10(df[c], unit_of(f, c, unit50), target, c) for c in trio)
            out[f], out[f + "_err"] = mid, (hi - lo) / 2
            continue
        c = pick_column(df, f, where, columns, required=f in required)
        if c is None:
            out[f], out[f + "_err"] = np.nan, np.nan
            continue
        centre_unit = resolve_unit(df[c], unit_of(f, c), target, c)
        out[f] = to_log10(df[c], centre_unit, target, c)
        ce = pick_column(df, f + "_err", where, columns, required=f + "_err" in required)
        out[f + "_err"] = (log_error(df[ce], unit_of(f + "_err", ce), out[f].to_numpy(),
                                     centre_unit, ce) if ce else np.nan)
    out["class"] = cls
    return out


def read_catalog(path: Path | str, cls: str = "normal", catalog: str | None = None,
                 columns: dict | None = None, units: dict | None = None,
                 required: tuple[str, ...] = ("ra", "dec", "z", "logmstar", "logsfr")) -> pd.DataFrame:
    """One catalog file → the schema. ``columns`` maps schema names to the file's columns; ``units``
    gives units for columns whose file has none (e.g. ``{"logsfr": "dex(solMass/Gyr)"}``)."""
    if cls not in CLASSES:
        raise CatalogError(f"unknown class {cls!r}; use one of {CLASSES}")
    df, file_units = read_table(path)
    return _standardise(df, file_units, str(path), cls, catalog or Path(path).name.split(".")[0],
                        columns, units, required)


def crossmatch(a: pd.DataFrame, b: pd.DataFrame, radius_arcsec: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a``, the index of the nearest row of ``b`` and whether it is within radius."""
    ca = SkyCoord(a["ra"].to_numpy() * u.deg, a["dec"].to_numpy() * u.deg)
    cb = SkyCoord(b["ra"].to_numpy() * u.deg, b["dec"].to_numpy() * u.deg)
    idx, sep, _ = ca.match_to_catalog_sky(cb)
    return idx, sep.arcsec <= radius_arcsec


class GamaIncomplete(CatalogError):
    """GAMA files that cannot give paper A positions or SFRs on their own (DR4 StellarMassesGKV has
    no RA/Dec): the run goes on without GAMA if another normal-galaxy catalog is there."""


def _gkv_with_positions(path, positions) -> tuple[pd.DataFrame, dict]:
    """StellarMassesGKV, with RA/Dec from the user's positions file (joined on uberID or CATAID)
    when it has none."""
    df, units = read_table(path)
    if pick_column(df, "ra", str(path), required=False) is not None:
        return df, units
    if positions is None:
        raise GamaIncomplete(f"{path}: no RA/Dec columns (GAMA DR4 StellarMassesGKV has none); put "
                             f"the GAMA positions (gkvScienceCatv02: uberID, RAcen, Deccen; address "
                             f"not known) at {Path(path).parent / 'gkvScienceCatv02.fits'}")
    pos, pos_units = read_table(positions)
    key = next((k for k in ("uberID", "CATAID") if k in df.columns and k in pos.columns), None)
    if key is None:
        raise CatalogError(f"cannot join {path} and {positions}: no shared uberID or CATAID column")
    extra = [c for c in pos.columns if c not in df.columns or c == key]
    return df.merge(pos[extra].drop_duplicates(key), on=key, how="left"), {**pos_units, **units}


def read_gama(stellar_masses: Path | str | None = None, magphys: Path | str | None = None,
              columns: dict | None = None, units: dict | None = None,
              positions: Path | str | None = None) -> pd.DataFrame:
    """GAMA DR4: StellarMassesGKV (z, logmstar, dellogmstar; positions from ``positions`` when it
    has none) and/or MagPhys (z, M* and SFR_0_1Gyr percentiles). With both, positions/masses come
    from GKV and SFR from MagPhys, joined on CATAID when both have it, else on position (1″)."""
    if stellar_masses is None and magphys is None:
        raise CatalogError("GAMA needs StellarMassesGKVv24 and/or MagPhysv06")
    if stellar_masses is not None:
        sm_df, sm_units = _gkv_with_positions(stellar_masses, positions)
    if magphys is None:
        if (pick_column(sm_df, "logsfr", "", columns, required=False) is None
                and _percentile_columns(sm_df, ("SFR_0_1Gyr", "sfr")) is None):
            raise GamaIncomplete(f"{stellar_masses}: no SFR column; put GAMA MagPhysv06.fits (CATAID, "
                                 f"SFR_0_1Gyr_percentile16/50/84) beside it")
        return _standardise(sm_df, sm_units, str(stellar_masses), "normal", "gama", columns, units,
                            required=("ra", "dec", "z", "logmstar", "logsfr"))
    mp_df, mp_units = read_table(magphys)
    mp = _standardise(mp_df, mp_units, str(magphys), "normal", "gama", columns, units,
                      required=("z", "logmstar", "logsfr"))
    if stellar_masses is None:
        if mp["ra"].isna().all():
            raise CatalogError(f"{magphys}: no RA/Dec columns; also provide StellarMassesGKVv24 "
                               f"(it has positions) so the two can be joined on CATAID")
        return mp
    sm = _standardise(sm_df, sm_units, str(stellar_masses), "normal", "gama", columns, units,
                      required=("ra", "dec", "z", "logmstar"))
    key = next((k for k in ("CATAID", "cataid") if k in sm_df.columns and k in mp_df.columns), None)
    if key:
        sfr = pd.Series(mp[["logsfr", "logsfr_err"]].to_numpy().tolist(),
                        index=mp_df[key].to_numpy())
        sfr = sfr[~sfr.index.duplicated()]
        matched = sfr.reindex(sm_df[key].to_numpy())
        ok = matched.notna().to_numpy()
        vals = np.array([v if isinstance(v, list) else [np.nan, np.nan] for v in matched])
    else:
        if mp["ra"].isna().all():
            raise CatalogError(f"cannot join {stellar_masses} and {magphys}: no shared CATAID column "
                               f"and MagPhys has no positions")
        idx, ok = crossmatch(sm, mp)
        vals = mp[["logsfr", "logsfr_err"]].to_numpy()[idx]
    vals = np.where(ok[:, None], vals, np.nan)
    sm["logsfr"], sm["logsfr_err"] = vals[:, 0].astype(float), vals[:, 1].astype(float)
    return sm


def _normal_catalogs(catalog_dir: Path, found: dict) -> tuple[list[pd.DataFrame], list[str]]:
    """GAMA and/or Zou22 in the schema, and why GAMA was set aside (no positions or SFRs, e.g. the
    downloaded GKV masses alone); CatalogError naming every missing file, anomaly lists included."""
    normal, skipped = [], []
    if found["gama_stellar_masses"] or found["gama_magphys"]:
        try:
            normal.append(read_gama(found["gama_stellar_masses"], found["gama_magphys"],
                                    positions=found["gama_positions"]))
        except GamaIncomplete as err:  # e.g. the downloaded GKV masses without the user's positions
            skipped.append(f"GAMA not used: {err}")
    if found["zou22"]:
        normal.append(read_catalog(found["zou22"], catalog="zou22"))
    missing = []
    if not normal:
        missing.append(f"a normal-galaxy catalog ({expected_names('gama_magphys')}, "
                       f"{expected_names('gama_stellar_masses')} or {expected_names('zou22')})"
                       + "".join(f" ({s})" for s in skipped))
    for kind in ("green_peas", "red_spirals"):
        if not found[kind]:
            missing.append(expected_names(kind))
    if missing:
        raise CatalogError(
            f"real paper-A data needs user catalogs in {catalog_dir}; missing: {'; '.join(missing)}. "
            f"Schema: columns ra, dec [deg], z, logmstar, logmstar_err [log10 Msun], logsfr, "
            f"logsfr_err [log10 Msun/yr] (other spellings and units are recognised, see README "
            f"'Real data'); anomaly lists need only ra, dec (z, logmstar, logsfr if known).")
    return normal, skipped


def load_survey_a_catalog(catalog_dir: Path | str, z_max: float = Z_MAX,
                          match_radius_arcsec: float = 1.0, verbose: bool = True) -> pd.DataFrame:
    """All paper-A catalogs found in ``catalog_dir`` → one table in :data:`SCHEMA`.

    Needs at least one normal-galaxy catalog (GAMA and/or Zou22) and both anomaly lists. Rows
    outside 0 < z < ``z_max`` or without a finite z, M*, SFR (normal galaxies) are dropped and
    counted in ``.attrs["drops"]``; a normal galaxy within ``match_radius_arcsec`` of a Green Pea
    or Red Spiral is dropped so it is not counted twice.
    """
    catalog_dir = Path(catalog_dir)
    found = {k: find_catalog_file(catalog_dir, k) for k in CATALOG_FILES}
    normal, skipped = _normal_catalogs(catalog_dir, found)
    anomalies = [read_catalog(found["green_peas"], "green_pea", "green_peas", required=("ra", "dec")),
                 read_catalog(found["red_spirals"], "red_spiral", "red_spirals",
                              required=("ra", "dec"))]
    normal_df = pd.concat(normal, ignore_index=True)
    anomalies_df = pd.concat(anomalies, ignore_index=True)
    drops = {}
    bad_pos = anomalies_df[["ra", "dec"]].isna().any(axis=1)
    drops["anomaly without position"] = int(bad_pos.sum())
    anomalies_df = anomalies_df[~bad_pos]
    need = ["ra", "dec", "z", "logmstar", "logsfr", "logmstar_err", "logsfr_err"]
    bad = normal_df[need].isna().any(axis=1) | ~np.isfinite(normal_df[need].to_numpy()).all(axis=1)
    drops["normal without finite ra/dec/z/M*/SFR/errors"] = int(bad.sum())
    normal_df = normal_df[~bad]
    zcut = ~((normal_df["z"] > 0) & (normal_df["z"] < z_max))
    drops[f"normal outside 0 < z < {z_max:g}"] = int(zcut.sum())
    normal_df = normal_df[~zcut]
    if len(anomalies_df) and len(normal_df):
        idx, close = crossmatch(anomalies_df, normal_df, match_radius_arcsec)
        dup = np.zeros(len(normal_df), bool)
        dup[idx[close]] = True
        drops["normal duplicating an anomaly"] = int(dup.sum())
        normal_df = normal_df[~dup]
    out = pd.concat([normal_df, anomalies_df], ignore_index=True)
    out.insert(0, "id", np.arange(len(out), dtype=np.int64))
    out = out[[*SCHEMA, "catalog", "catalog_id"]]
    out.attrs["drops"] = drops
    out.attrs["skipped"] = skipped
    if verbose:
        counts = out["class"].value_counts().to_dict()
        dropped = ", ".join(f"{k}: {v}" for k, v in drops.items() if v) or "none"
        print(f"survey_a catalogs from {catalog_dir}: {counts}; dropped {dropped}"
              + "".join(f"; {s}" for s in skipped))
    return out
