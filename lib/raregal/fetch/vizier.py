"""Zou et al. 2022 (VizieR ``J/ApJS/262/15``) through VizieR's TAP service, with an ADQL selection.

Why TAP and run-time discovery: the catalog holds ≈2.8M rows over three deep fields (W-CDF-S,
ELAIS-S1, XMM-LSS), far more than paper A uses (spectroscopic z < 1), and its table and column names
are not documented anywhere this repository could check. So the tables are listed from
``TAP_SCHEMA.tables``, each column is recognised by its UCD (how VizieR labels what a column
measures: ``pos.eq.ra``, ``src.redshift``, ``phys.mass``, ``phys.SFR``; errors ``stat.error``, VizieR's
``e_<name>``) or by the spellings in :data:`raregal.fetch.catalogs.ALIASES`, and only the rows with
0 < z < ``z_max`` are asked for. A table set without the needed columns fails with a message listing
what was found. Units come from the service (CDS/VOUnit strings read by astropy); a unit astropy
cannot read fails with the column, the unit and what to do.
"""
from __future__ import annotations

import time
import warnings

import astropy.units as u
import pandas as pd
from astropy.table import Table, vstack

from raregal.fetch.catalog_units import CatalogError, parse_unit
from raregal.fetch.catalogs import ALIASES
from raregal.fetch.http import FetchError, RetryPolicy

TAP_URL = "https://tapvizier.cds.unistra.fr/TAPVizieR/tap"
ZOU22_CATALOG = "J/ApJS/262/15"
ZOU22_FILE = "zou22.ecsv"
NEEDED = ("ra", "dec", "z", "logmstar", "logsfr")
ERRORS = {"z": "z_err", "logmstar": "logmstar_err", "logsfr": "logsfr_err"}
UCDS = {"id": "meta.id", "ra": "pos.eq.ra", "dec": "pos.eq.dec", "z": "src.redshift",
        "logmstar": "phys.mass", "logsfr": "phys.SFR"}
PREFER = {"z": ("spec",), "logmstar": ("star", "m*"), "logsfr": ("sfr",)}  # among several candidates
MAXREC = 2_000_000  # above the z < 1 spectroscopic rows, below the whole ≈2.8M-row catalog
RETRY_CODES = frozenset({0, 429, 500, 502, 503, 504})


def _ucd_words(ucd) -> list[str]:
    return [w.strip().lower() for w in str(ucd or "").split(";") if w.strip()]


def _candidates(cols: pd.DataFrame, field: str) -> list[str]:
    """Column names that measure ``field``: by UCD first, then by known spelling; best first."""
    want = UCDS[field].lower()
    by_ucd = [r.column_name for r in cols.itertuples()
              if _ucd_words(r.ucd)[:1] == [want] and "stat.error" not in _ucd_words(r.ucd)]
    aliases = [a.lower() for a in ALIASES.get(field, ())]
    by_name = [c for c in cols.column_name if c.lower() in aliases]
    ranked = by_name + [c for c in by_ucd if c not in by_name]
    words = PREFER.get(field, ())
    preferred = [c for c in ranked if any(w in c.lower() for w in words)]
    main = [c for c in ranked if "meta.main" in _ucd_words(cols.set_index("column_name").ucd.get(c))]
    return list(dict.fromkeys(preferred + main + ranked))


def _error_column(cols: pd.DataFrame, column: str, field: str) -> str | None:
    names = {c.lower(): c for c in cols.column_name}
    if f"e_{column}".lower() in names:  # VizieR's convention
        return names[f"e_{column}".lower()]
    want = UCDS[field].lower()
    for r in cols.itertuples():
        words = _ucd_words(r.ucd)
        if words[:1] == ["stat.error"] and want in words:
            return r.column_name
    return None


def choose_columns(cols: pd.DataFrame) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Schema field → column of one table (``cols``: column_name, unit, ucd, description).

    Returns the choice and, per field, every candidate seen (printed so a user can check it).
    """
    chosen, seen = {}, {}
    for field in ("id", *NEEDED):
        cands = _candidates(cols, field)
        seen[field] = cands
        if cands:
            chosen[field] = cands[0]
    for field, err in ERRORS.items():
        if field in chosen and (col := _error_column(cols, chosen[field], field)):
            chosen[err] = col
    return chosen, seen


def read_unit(text, where: str, column: str, field: str, override=None) -> u.UnitBase | None:
    """The service's unit string for a column → astropy (None when empty), or a clear error."""
    if override is not None:
        return u.Unit(override)
    try:
        return parse_unit(text)
    except ValueError:
        raise CatalogError(f"{where}: column {column!r} ({field}) has unit {text!r}, which astropy "
                           f"cannot read; give it by hand, e.g. fetch_catalogs(..., zou22_units="
                           f"{{'{field}': 'dex(solMass)'}}), or save the table yourself as "
                           f"data/raw/catalogs/zou22.csv") from None


def tap_service(url: str, session):
    import pyvo

    return pyvo.dal.TAPService(url, session=session)


def run_adql(service, adql: str, what: str, policy: RetryPolicy = RetryPolicy(),
             maxrec: int | None = None, sleep=time.sleep) -> Table:
    """One synchronous TAP query with retries on 429/5xx/broken answers; clear errors otherwise."""
    from pyvo.dal import DALFormatError, DALOverflowWarning, DALQueryError, DALServiceError

    where = f"{what} ({service.baseurl})"
    last = ""
    for attempt in range(policy.retries + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DALOverflowWarning)
                warnings.simplefilter("ignore", u.UnitsWarning)
                result = service.run_sync(adql, maxrec=maxrec)
                table = result.to_table()
        except DALQueryError as err:
            raise FetchError(f"{where}: the service rejected the query ({err.reason}); query was "
                             f"{adql!r}") from None
        except DALServiceError as err:
            code = err.code or 0
            last = f"HTTP {code}" if code else f"connection failed: {err.reason}"
            if code not in RETRY_CODES:
                raise FetchError(f"{where}: HTTP {code} ({_advice(code)})") from None
        except DALFormatError as err:
            last = (f"the answer is not a complete VOTable ({err.reason}; an HTML page or a "
                    f"truncated answer)")
        else:
            if result.status[0].lower() == "overflow":
                raise FetchError(f"{where}: the answer stopped at MAXREC={maxrec} rows, so it is "
                                 f"incomplete; narrow the selection or raise maxrec")
            return table
        if attempt < policy.retries:
            sleep(policy.wait_after(attempt))
    raise FetchError(f"{where}: {last} (gave up after {policy.retries + 1} tries); rerun later, or save "
                     f"the table yourself as data/raw/catalogs/zou22.csv")


def _advice(code: int) -> str:
    if code == 403:
        return "the service refuses this client; try later or from another network"
    if code == 404:
        return "no TAP service at this address; check the URL (README 'Real data')"
    return "the service answered with an error"


def discover(service, catalog: str = ZOU22_CATALOG, policy: RetryPolicy = RetryPolicy()) -> pd.DataFrame:
    """Every column of the catalog's tables: table_name, column_name, unit, ucd, description."""
    adql = ("SELECT table_name, column_name, unit, ucd, description FROM TAP_SCHEMA.columns "
            f"WHERE table_name LIKE '{catalog}/%'")
    cols = run_adql(service, adql, f"VizieR TAP_SCHEMA for {catalog}", policy).to_pandas()
    missing = [c for c in ("table_name", "column_name", "unit", "ucd") if c not in cols.columns]
    if missing:
        raise CatalogError(f"VizieR TAP_SCHEMA answer for {catalog} lacks {missing}; columns "
                           f"{list(cols.columns)}")
    for c in cols.columns:
        if cols[c].dtype == object:
            cols[c] = cols[c].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    if cols.empty:
        raise CatalogError(f"VizieR has no tables named {catalog}/… (TAP_SCHEMA.columns is empty for "
                           f"them); save the table yourself as data/raw/catalogs/zou22.csv")
    return cols


def usable_tables(cols: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per table with every needed field (ra, dec, z, M*, SFR): field → column. Else CatalogError."""
    usable, found = {}, []
    for table, group in cols.groupby("table_name", sort=True):
        chosen, _ = choose_columns(group)
        if all(f in chosen for f in NEEDED):
            usable[table] = chosen
        found.append(f"{table}: " + ", ".join(f"{r.column_name}[{r.unit or ''}]{{{r.ucd or ''}}}"
                                               for r in group.itertuples()))
    if not usable:
        raise CatalogError("no VizieR table of Zou et al. 2022 has all of ra, dec, z, stellar mass and "
                           "SFR (recognised by UCD or name); found:\n  " + "\n  ".join(found) +
                           "\nSave the table you need as data/raw/catalogs/zou22.csv instead")
    return usable


def selection(table: str, chosen: dict[str, str], z_max: float) -> str:
    """ADQL for the rows paper A uses: 0 < z < z_max (names double-quoted, as VizieR needs)."""
    cols = ", ".join(f'"{c}"' for c in dict.fromkeys(chosen.values()))
    z = chosen["z"]
    return f'SELECT {cols} FROM "{table}" WHERE "{z}" > 0 AND "{z}" < {z_max:g}'


def fetch_zou22(url: str = TAP_URL, session=None, policy: RetryPolicy = RetryPolicy(),
                z_max: float = 1.0, maxrec: int = MAXREC, units: dict | None = None) -> Table:
    """Zou et al. 2022 rows with 0 < z < ``z_max`` from every usable table, in the schema's names.

    Returns an astropy Table with ``id`` (``<table>:<id>``), ``ra``, ``dec`` [deg], ``z``, ``z_err``,
    ``logmstar``, ``logmstar_err``, ``logsfr``, ``logsfr_err`` (units as the service gives them; the
    reader converts linear M☉ and M☉/yr to log10) and ``vizier_table``; ``meta`` records the service,
    the queries and the columns used. ``units`` overrides a field's unit (e.g. ``{"logsfr":
    "solMass/yr"}``). Writing it is the caller's job (atomic, checksummed).
    """
    service = tap_service(url, session)
    cols = discover(service, ZOU22_CATALOG, policy)
    tables = usable_tables(cols)
    parts, queries = [], {}
    for table, chosen in tables.items():
        queries[table] = selection(table, chosen, z_max)
        got = run_adql(service, queries[table], f"VizieR TAP {table}", policy, maxrec)
        unit_text = cols[cols.table_name == table].set_index("column_name")["unit"]
        part = Table()
        for field, column in chosen.items():
            if field == "id":  # unique across the fields' tables, e.g. "wcdfs:1043"
                part["id"] = [f"{table.rsplit('/', 1)[-1]}:{v}" for v in got[column]]
                continue
            part[field] = got[column]
            unit = read_unit(unit_text.get(column), f"VizieR {table}", column, field,
                             (units or {}).get(field))
            centre = field.removesuffix("_err")
            part[field].unit = unit if unit is not None or centre == field else part[centre].unit
        part["vizier_table"] = table
        parts.append(part)
    out = vstack(parts, metadata_conflicts="silent")
    out.meta.update({"service": url, "catalog": ZOU22_CATALOG, "queries": queries,
                     "columns": tables})
    return out
