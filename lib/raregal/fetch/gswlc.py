"""GSWLC-2 (Salim et al. 2016, 2018): z, log M* and log SFR of SDSS galaxies → paper B's physical columns.

Why: Ma et al. 2025 take the redshifts (Fig. 8), stellar masses and SFRs (Fig. 9, Appendix D) of
GZ2 galaxies from GSWLC. ``GSWLC-X2.dat.gz`` is a headerless whitespace table of 24 columns with
−99 for a missing value; the server sometimes sends it already decompressed, so the gzip magic is
checked instead of trusted. :func:`physical_table` turns it into the ``gz2_physical`` table that
:func:`raregal.fetch.gz2.read_physical` joins on ``dr7objid``; halo masses (Yang et al. 2012) are not
in GSWLC and stay user-supplied (``gz2_halo_masses.*``: dr7objid, loghalomass).

The file has no header, so units are stated here (Salim et al. 2016): ``z`` dimensionless,
``logmstar``/``logmstar_err`` [log10 M☉], ``logsfr``/``logsfr_err`` [log10 M☉/yr], ``ra``/``dec`` [deg].
"""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.fetch.catalogs import CatalogError, crossmatch

GSWLC_URL = "https://salims.pages.iu.edu/gswlc/GSWLC-X2.dat.gz"
GSWLC_FILE = "GSWLC-X2.dat.gz"
N_COLUMNS = 24
MISSING = -99.0
GZIP_MAGIC = b"\x1f\x8b"
# 1-based column numbers of GSWLC-2 (its README) → our names.
COLUMNS = {1: "objid", 6: "ra", 7: "dec", 8: "z", 10: "logmstar", 11: "logmstar_err",
           12: "logsfr", 13: "logsfr_err", 20: "flag_sed"}
UNITS = {"objid": "", "ra": "deg", "dec": "deg", "z": "", "logmstar": "dex(solMass)",
         "logmstar_err": "dex", "logsfr": "dex(solMass/yr)", "logsfr_err": "dex", "flag_sed": ""}
MATCH_RADIUS_ARCSEC = 2.0  # SDSS positions of one galaxy agree to ≲0.2″; neighbours are ≳5″ apart


def _text_stream(path: Path) -> io.TextIOBase:
    """The file as text, gunzipped only if it really is gzip (the server may have decompressed it)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(GZIP_MAGIC):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="ascii", errors="replace")
    if head.lstrip()[:1] == b"<":
        raise CatalogError(f"{path}: an HTML/XML page, not the GSWLC-2 table (starts "
                           f"{head.lstrip()[:60]!r}); the address may have moved: delete it and "
                           f"download {GSWLC_URL} by hand to {path}")
    return open(path, encoding="ascii", errors="replace")


def read_gswlc(path: Path | str) -> pd.DataFrame:
    """``GSWLC-X2.dat(.gz)`` → objid (int64), ra, dec, z, logmstar(_err), logsfr(_err), flag_sed.

    −99 becomes NaN; ``.attrs["missing"]`` counts the missing values per column (rows are kept: a
    galaxy with a redshift but no SED fit still has its z for Fig. 8).
    """
    path = Path(path)
    redo = f"delete it (and its .sha256) and rerun, or download {GSWLC_URL} by hand to {path}"
    try:
        with _text_stream(path) as fh:
            n = len(fh.readline().split())
        if n != N_COLUMNS:
            raise CatalogError(f"{path}: line 1 has {n} columns, GSWLC-2 has {N_COLUMNS} "
                               f"(whitespace-separated, no header); not the GSWLC-X2 file? {redo}")
        with _text_stream(path) as fh:
            df = pd.read_csv(fh, sep=r"\s+", header=None, usecols=[c - 1 for c in COLUMNS],
                             dtype={0: "int64"})
    except (EOFError, OSError, ValueError, pd.errors.ParserError) as err:
        if isinstance(err, CatalogError):
            raise
        raise CatalogError(f"{path}: cannot read the GSWLC-2 table ({type(err).__name__}: {err}); "
                           f"truncated? {redo}") from None
    df.columns = list(COLUMNS.values())
    values = [c for c in df.columns if c not in ("objid", "flag_sed")]
    missing = df[values] == MISSING
    df[values] = df[values].mask(missing)
    df.attrs["missing"] = {c: int(n) for c, n in missing.sum().items() if n}
    df.attrs["units"] = UNITS
    return df


def physical_table(gswlc: pd.DataFrame, gz2_catalog: pd.DataFrame,
                   radius_arcsec: float = MATCH_RADIUS_ARCSEC,
                   halo_masses: pd.DataFrame | None = None) -> pd.DataFrame:
    """GSWLC values for each GZ2 galaxy (``dr7objid, ra, dec``), matched by position.

    Why by position: GSWLC's ``objid`` comes from a later SDSS data release than GZ2's
    ``dr7objid`` (Hart et al. 2016), and the two numbering schemes differ; positions do not. Each GZ2
    galaxy takes its nearest GSWLC galaxy within ``radius_arcsec``; the others are counted in
    ``.attrs["drops"]``. ``halo_masses`` (dr7objid, loghalomass; Yang et al. 2012, user-supplied) is
    joined on dr7objid when given.

    Returns
    -------
    DataFrame with ``dr7objid``, ``z``, ``logmstar``, ``logmstar_err`` [log10 M☉], ``logsfr``,
    ``logsfr_err`` [log10 M☉/yr], ``loghalomass`` [log10 M☉/h] when given, ``gswlc_objid``,
    and ``flag_sed`` (GSWLC's SED-fit flag, kept as it is).
    """
    need = [c for c in ("dr7objid", "ra", "dec") if c not in gz2_catalog.columns]
    if need:
        raise CatalogError(f"the GZ2 catalog lacks {need}: GSWLC values are joined by position")
    gz2 = gz2_catalog.dropna(subset=["ra", "dec"])
    drops = {"GZ2 galaxy without a position": len(gz2_catalog) - len(gz2)}
    ref = gswlc.dropna(subset=["ra", "dec"])
    if gz2.empty or ref.empty:
        idx, ok = np.zeros(len(gz2), int), np.zeros(len(gz2), bool)
    else:
        idx, ok = crossmatch(gz2, ref, radius_arcsec)
    drops[f"GZ2 galaxy without a GSWLC galaxy within {radius_arcsec:g}″"] = int((~ok).sum())
    matched = ref.iloc[idx[ok]].reset_index(drop=True)
    out = pd.DataFrame({"dr7objid": gz2["dr7objid"].to_numpy()[ok].astype("int64")})
    for c in ("z", "logmstar", "logmstar_err", "logsfr", "logsfr_err"):
        out[c] = matched[c].to_numpy()
    out["gswlc_objid"] = matched["objid"].to_numpy()
    out["flag_sed"] = matched["flag_sed"].to_numpy()
    if halo_masses is not None:
        if not {"dr7objid", "loghalomass"} <= set(halo_masses.columns):
            raise CatalogError(f"the halo-mass table needs columns dr7objid, loghalomass; has "
                               f"{list(halo_masses.columns)}")
        halo = halo_masses.drop_duplicates("dr7objid").set_index("dr7objid")["loghalomass"]
        out["loghalomass"] = halo.reindex(out["dr7objid"].to_numpy()).to_numpy()
    out.attrs["drops"] = drops
    return out
