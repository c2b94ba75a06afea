"""A loopback (127.0.0.1) stand-in for the catalog services: GAMA's file server, GSWLC's page and
VizieR's TAP service, with faults a test can queue.

Fixtures are made here: a tiny GAMA StellarMasses FITS table, a tiny GSWLC-2 ``.dat.gz`` (24
whitespace columns, −99 for missing), and TAP answers as VOTables written by astropy (the column
list of ``TAP_SCHEMA.columns`` and the rows of the Zou et al. 2022 stand-in tables, filtered by the
query's z range). Faults are queued per key (a path, or ``tap:schema`` / ``tap:rows``) and used one
per request: ``403``, ``404``, ``500``, ``truncate`` (half the promised body), ``html`` (an HTML page
with status 200), ``overflow`` (a TAP answer marked as cut at MAXREC). Paths listed in
``browser_only`` answer 403 to any User-Agent that is not a browser's, as www.gama-survey.org does to
some clients.
"""
from __future__ import annotations

import gzip
import io
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.io.votable.tree import Info
from astropy.table import Table
from fixtures_server import LoopbackServer, QuietHandler, running

GAMA_PATH = "/dr4/data/cat/StellarMasses/v24/StellarMassesGKVv24.fits"
GSWLC_PATH = "/gswlc/GSWLC-X2.dat.gz"
TAP_PATH = "/TAPVizieR/tap"
HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Access denied</body></html>"

# Zou et al. 2022 stand-in: two usable tables (one per field) and one without masses. Column names
# are made up for the test; the code under test must find them by UCD, as it would on VizieR.
ZOU_COLUMNS = [  # column_name, unit, ucd
    ("Seq", "", "meta.id;meta.main"), ("RAdeg", "deg", "pos.eq.ra;meta.main"),
    ("DEdeg", "deg", "pos.eq.dec;meta.main"), ("zsp", "", "src.redshift"),
    ("zph", "", "src.redshift.phot"), ("lgM", "[Msun]", "phys.mass"),
    ("e_lgM", "[Msun]", "stat.error;phys.mass"), ("lgSFR", "[Msun/yr]", "phys.SFR"),
    ("e_lgSFR", "[Msun/yr]", "stat.error;phys.SFR")]
ZOU_TABLES = ("J/ApJS/262/15/wcdfs", "J/ApJS/262/15/xmmlss")
PHOTOMETRY_TABLE = "J/ApJS/262/15/photom"
PHOTOMETRY_COLUMNS = [("Seq", "", "meta.id;meta.main"), ("RAdeg", "deg", "pos.eq.ra;meta.main"),
                      ("DEdeg", "deg", "pos.eq.dec;meta.main"), ("gmag", "mag", "phot.mag;em.opt.B")]


def gama_fits_bytes(n: int = 5, seed: int = 0, mass_unit: str = "dex(solMass)") -> bytes:
    """A StellarMassesGKV-like table: uberID, Z, logmstar [``mass_unit``], dellogmstar [dex]."""
    rng = np.random.default_rng(seed)
    cols = [fits.Column("uberID", "K", array=np.arange(1, n + 1, dtype=np.int64) * 1000003),
            fits.Column("Z", "D", array=np.linspace(0.02, 0.4, n)),
            fits.Column("logmstar", "D", unit=mass_unit, array=rng.uniform(9, 11.5, n)),
            fits.Column("dellogmstar", "D", unit="dex", array=np.full(n, 0.1))]
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(buf)
    return buf.getvalue()


GSWLC_OBJID0 = 1237648720693755918  # an SDSS (DR8+ numbering) objid; the fixture counts up from it


def gswlc_rows(n: int = 6, seed: int = 0) -> np.ndarray:
    """(n, 24) GSWLC-2 rows: col 1 objid (written as GSWLC_OBJID0 + row), 6/7 ra/dec, 8 z, 10-13
    log M*, err, log SFR, err, 20 flag. Row 2 has no SED fit (−99 for M* and SFR)."""
    rng = np.random.default_rng(seed)
    rows = rng.uniform(0, 1, (n, 24))
    rows[:, 0] = np.arange(n)
    rows[:, 5] = 150.0 + np.arange(n) * 0.01
    rows[:, 6] = 2.0 + np.arange(n) * 0.01
    rows[:, 7] = np.linspace(0.01, 0.2, n)
    rows[:, 9] = rng.uniform(9, 11.5, n)
    rows[:, 10] = 0.05
    rows[:, 11] = rng.uniform(-2, 1, n)
    rows[:, 12] = 0.2
    rows[:, 19] = 0
    rows[2, [9, 10, 11, 12]] = -99
    return rows


def gswlc_text(rows: np.ndarray) -> bytes:
    lines = [" ".join([str(GSWLC_OBJID0 + int(r[0]))] + [f"{v:.6f}" for v in r[1:]]) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def gswlc_gz(rows: np.ndarray) -> bytes:
    return gzip.compress(gswlc_text(rows))


def zou_rows(table: str, n: int = 6) -> Table:
    """Rows of one stand-in table: z from −0.1 to 1.4 so the selection 0 < z < 1 keeps some."""
    k = ZOU_TABLES.index(table) if table in ZOU_TABLES else 2
    z = np.linspace(-0.1, 1.4, n)
    t = Table({"Seq": np.arange(n) + 100 * k, "RAdeg": 53.0 + k + np.arange(n) * 1e-3,
               "DEdeg": -28.0 + np.arange(n) * 1e-3, "zsp": z, "zph": z + 0.05,
               "lgM": 9.0 + np.arange(n) * 0.2, "e_lgM": np.full(n, 0.1),
               "lgSFR": np.arange(n) * 0.1 - 0.5, "e_lgSFR": np.full(n, 0.2)})
    return t


def votable_bytes(table: Table, status: str = "OK") -> bytes:
    vot = from_table(table)
    vot.resources[0].type = "results"
    vot.resources[0].infos.append(Info(name="QUERY_STATUS", value=status))
    buf = io.BytesIO()
    vot.to_xml(buf)
    return buf.getvalue()


class CatalogServer(LoopbackServer):
    def __init__(self):
        super().__init__(_Handler)  # log: (method, path, form or headers)
        self.browser_only: set[str] = set()
        self.columns = [(t, *c) for t in ZOU_TABLES for c in ZOU_COLUMNS] + \
            [(PHOTOMETRY_TABLE, *c) for c in PHOTOMETRY_COLUMNS]

    def gets(self, path: str) -> list[dict]:
        return [info for m, p, info in self.log if m == "GET" and p == path]

    def queries(self) -> list[str]:
        return [info.get("QUERY", "") for m, p, info in self.log if m == "POST"]


class _Handler(QuietHandler):
    server: CatalogServer

    def do_GET(self):
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.log.append(("GET", path, {"User-Agent": self.headers.get("User-Agent", "")}))
        if path not in self.server.files:
            return self._send(404, b"not found", "text/plain")
        if path in self.server.browser_only and "Mozilla/" not in self.headers.get("User-Agent", ""):
            return self._send(403, HTML, "text/html")
        self._answer(self.server.next_fault(path), self.server.files[path], "application/octet-stream")

    def do_POST(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        with self.server.lock:
            self.server.log.append(("POST", path, form))
        if path != TAP_PATH + "/sync":
            return self._send(404, b"not found", "text/plain")
        query = form.get("QUERY", "")
        key = "tap:schema" if "TAP_SCHEMA" in query else "tap:rows"
        fault = self.server.next_fault(key)
        if key == "tap:schema":
            prefix = re.search(r"LIKE '([^%']*)%'", query).group(1)
            rows = [c for c in self.server.columns if c[0].startswith(prefix)]
            table = Table(rows=rows or None, names=("table_name", "column_name", "unit", "ucd"),
                          dtype=(str, str, str, str))
            table["description"] = ["" for _ in range(len(table))]
        else:
            name = re.search(r'FROM "([^"]+)"', query).group(1)
            lo_hi = re.search(r'"(\w+)" > ([-\d.e]+) AND "\w+" < ([-\d.e]+)', query)
            data = zou_rows(name)
            z = data[lo_hi.group(1)]
            table = data[(z > float(lo_hi.group(2))) & (z < float(lo_hi.group(3)))]
            wanted = re.findall(r'"(\w+)"', query.split(" FROM ")[0])
            table = table[wanted]
        status = "OVERFLOW" if fault == "overflow" else "OK"
        self._answer(fault, votable_bytes(table, status), "application/x-votable+xml")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, fault: str, body: bytes, ctype: str) -> None:
        if fault in ("403", "404", "500"):
            return self._send(int(fault), HTML, "text/html")
        if fault == "html":
            return self._send(200, HTML, "text/html")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body[: len(body) // 2] if fault == "truncate" else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if fault == "truncate":
            self.close_connection = True


def serve_all(server: CatalogServer, gswlc: bytes | None = None) -> None:
    """The three catalogs at their public paths (GAMA only for a browser-like User-Agent)."""
    server.files[GAMA_PATH] = gama_fits_bytes()
    server.browser_only.add(GAMA_PATH)
    server.files[GSWLC_PATH] = gswlc if gswlc is not None else gswlc_gz(gswlc_rows())


@pytest.fixture
def catalog_server():
    with running(CatalogServer()) as server:
        yield server
