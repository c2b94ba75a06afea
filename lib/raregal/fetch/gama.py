"""GAMA DR4 ``StellarMassesGKVv24.fits`` (Driver et al. 2022): the checks a download must pass.

Why a module: the file is ≈178 MB, its server refuses some non-browser clients (403) and may answer
an HTML page with status 200, so a download counts only when it starts with the FITS magic, opens,
is as long as its headers say, holds the columns paper A reads (z, log M*, by the spellings in
:data:`raregal.fetch.catalogs.ALIASES`) and gives them units astropy can read. It has no RA/Dec:
positions (GAMA ``gkvScienceCatv02``: ``RAcen, Deccen``; address not known) are a user file joined on
``uberID`` by :func:`raregal.fetch.catalogs.read_gama`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from astropy.io import fits

from raregal.fetch.catalog_units import CatalogError, parse_unit
from raregal.fetch.catalogs import ALIASES

GAMA_URL = "https://www.gama-survey.org/dr4/data/cat/StellarMasses/v24/StellarMassesGKVv24.fits"
GAMA_FILE = "StellarMassesGKVv24.fits"
# Some agents get 403 from www.gama-survey.org; a browser-like one is answered.
BROWSER_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FITS_MAGIC = b"SIMPLE  ="
GAMA_FIELDS = ("z", "logmstar")  # what paper A needs from this file


def sniff(path: Path | str, n: int = 256) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def looks_like_html(head: bytes) -> bool:
    text = head.lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text


def _fits_unit(text: str, path: Path, column: str):
    try:
        return parse_unit(text)
    except ValueError:
        raise CatalogError(f"{path}: column {column!r} has unit {text!r}, which astropy cannot read; "
                           f"report it, and meanwhile give the unit by hand "
                           f"(catalogs.read_catalog(..., units={{'{column}': '<unit>'}}))") from None


def check_gama_fits(path: Path | str, fields=GAMA_FIELDS) -> dict:
    """A complete, readable GAMA StellarMasses FITS table, or :class:`CatalogError` saying why not.

    Returns
    -------
    dict with ``rows`` (int), ``columns`` (field → column name) and ``units`` (column → astropy unit,
    None where the file gives none).
    """
    path = Path(path)
    head = sniff(path)
    if not head.startswith(FITS_MAGIC):
        kind = "an HTML page" if looks_like_html(head) else "not a FITS file"
        raise CatalogError(f"{path}: {kind} (starts {head[:60]!r}), not GAMA {GAMA_FILE}; the server "
                           f"may have refused the download: fetch {GAMA_URL} in a browser and put it "
                           f"at {path.parent / GAMA_FILE}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=True) as hdul:
                table = next((h for h in hdul if isinstance(h, fits.BinTableHDU)), None)
                if table is None:
                    raise CatalogError(f"{path}: FITS file without a table extension")
                info = table.fileinfo()
                end = info["datLoc"] + info["datSpan"]
                names = list(table.columns.names)
                tunits = {c.name: c.unit or "" for c in table.columns}
                rows = int(table.header.get("NAXIS2", 0))
    except CatalogError:
        raise
    except Exception as err:
        raise CatalogError(f"{path}: not a readable FITS file ({type(err).__name__}: {err}); "
                           f"delete it and rerun") from None
    size = path.stat().st_size
    if size < end:
        raise CatalogError(f"{path}: truncated ({size} of {end} bytes); delete it and rerun")
    lower = {n.lower(): n for n in names}
    columns, units = {}, {}
    for field in fields:
        col = next((lower[a.lower()] for a in ALIASES[field] if a.lower() in lower), None)
        if col is None:
            raise CatalogError(f"{path}: no column for {field!r} (looked for {list(ALIASES[field])}); "
                               f"columns are {names[:40]}; the GAMA file may have changed")
        columns[field] = col
        units[col] = _fits_unit(tunits[col], path, col)
    return {"rows": rows, "columns": columns, "units": units}
