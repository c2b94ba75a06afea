"""A real HTTP server on 127.0.0.1 for the fetch tests: generated fixtures plus injected faults.

Fixtures are made here (astropy writes the FITS, Pillow the JPEGs, zipfile the archive). Faults are
queued per key (a cutout's ``ra`` query value, or a static path) and consumed one per request:
``500``, ``429`` (with ``Retry-After``), ``truncate`` (half the promised body, then close),
``corrupt`` (not FITS), ``slow`` (answer after the client's timeout), ``bands2`` (a 2-band cube),
``nan`` (a non-finite pixel). With no fault left, the request succeeds.

Test modules load it with ``pytest_plugins = ["fixtures_server"]`` and import its helpers by name.
PYTEST_DONT_REWRITE: it holds no assertions, and those imports run before pytest loads it as a plugin.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image

SLOW_SECONDS = 2.0  # far past the tests' 0.5 s timeout, so load cannot blur the two
RETRY_AFTER = "0.3"


def cutout_array(ra: float, dec: float, size: int = 128, nbands: int = 3) -> np.ndarray:
    """Deterministic per position, so a test can check the cached cube is the one served."""
    rng = np.random.default_rng(int(abs(ra) * 1e4) + int(abs(dec) * 1e2))
    return rng.normal(0.0, 0.01, size=(nbands, size, size)).astype(np.float32)


def fits_bytes(data: np.ndarray) -> bytes:
    buf = io.BytesIO()
    hdu = fits.PrimaryHDU(data)
    hdu.header["BANDS"] = "grz"[: data.shape[0]] if data.ndim == 3 else "g"
    hdu.writeto(buf)
    return buf.getvalue()


def jpeg_bytes(seed: int, size: int = 32) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


def gama_files(folder, n=6, seed=0):
    """StellarMassesGKV (FITS, with units) + MagPhys (FITS, linear percentiles) sharing CATAID."""
    rng = np.random.default_rng(seed)
    cataid = np.arange(1000, 1000 + n)
    ra, dec = 180.0 + rng.uniform(0, 1, n), rng.uniform(-1, 1, n)
    z = np.linspace(0.05, 0.9, n)
    logm = rng.uniform(9, 11.5, n)
    sm = Table({"CATAID": cataid, "uberID": cataid * 10, "RAcen": ra, "Deccen": dec, "Z": z,
                "logmstar": logm, "dellogmstar": np.full(n, 0.1)})
    sm["RAcen"].unit = u.deg
    sm.write(folder / "StellarMassesGKVv24.fits")
    sfr = 10 ** rng.uniform(-1, 1, n)  # M☉/yr, linear, as percentiles
    mp = Table({"CATAID": cataid[::-1], "Z": z[::-1],
                "mass_stellar_percentile16": 10 ** (logm[::-1] - 0.2),
                "mass_stellar_percentile50": 10 ** logm[::-1],
                "mass_stellar_percentile84": 10 ** (logm[::-1] + 0.2),
                "SFR_0_1Gyr_percentile16": sfr[::-1] / 10 ** 0.3,
                "SFR_0_1Gyr_percentile50": sfr[::-1],
                "SFR_0_1Gyr_percentile84": sfr[::-1] * 10 ** 0.3})
    for c in ("SFR_0_1Gyr_percentile16", "SFR_0_1Gyr_percentile50", "SFR_0_1Gyr_percentile84"):
        mp[c].unit = u.Msun / u.yr
    mp.write(folder / "MagPhysv06.fits")
    return dict(ra=ra, dec=dec, z=z, logm=logm, logsfr=np.log10(sfr))


def anomaly_files(folder, ra0=10.0):
    pd.DataFrame({"name": ["GP1", "GP2"], "ra": [ra0, ra0 + 1], "dec": [0.0, 0.5],
                  "z": [0.2, 0.3]}).to_csv(folder / "green_peas.csv", index=False)
    pd.DataFrame({"objid": [7, 8, 9], "RAJ2000": [20.0, 21.0, np.nan], "DEJ2000": [1.0, 2.0, 3.0],
                  "redshift": [0.05, 0.06, 0.07]}).to_csv(folder / "red_spirals.csv", index=False)


class LoopbackServer(ThreadingHTTPServer):
    """An HTTP server on a free 127.0.0.1 port with static files, queued faults and a request log."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.files: dict[str, bytes] = {}  # static path -> body
        self.faults: dict[str, list[str]] = {}  # key -> queued faults
        self.log: list[tuple] = []
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def next_fault(self, key: str) -> str:
        with self.lock:
            queue = self.faults.get(key, [])
            return queue.pop(0) if queue else "ok"

    def handle_error(self, request, client_address):  # clients that time out close early: fine
        pass


class FixtureServer(LoopbackServer):
    def __init__(self):
        super().__init__(_Handler)  # log: (time, path, query) per GET

    def requests_for(self, path: str) -> list[dict]:
        return [q for _, p, q in self.log if p == path]


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's handler: no request logging on stderr, and HEAD answers 200 with no body."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Handler(QuietHandler):
    server: FixtureServer

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.server.lock:
            self.server.log.append((time.monotonic(), parts.path, query))
        if parts.path.endswith("/fits-cutout"):
            key = query.get("ra", "")
            ra, dec, size = float(query["ra"]), float(query["dec"]), int(query["size"])
            fault = self.server.next_fault(key)
            nbands = 2 if fault == "bands2" else len(query.get("bands", "grz"))
            data = cutout_array(ra, dec, size, nbands)
            if fault == "nan":
                data[0, 0, 0] = np.nan
            body = b"SIMPLE  =                    T / garbage, not FITS" if fault == "corrupt" \
                else fits_bytes(data)
        elif parts.path in self.server.files:
            fault = self.server.next_fault(parts.path)
            body = self.server.files[parts.path]
        else:
            self.send_error(404)
            return
        self._answer(fault, body)

    def _answer(self, fault: str, body: bytes) -> None:
        if fault == "500":
            self.send_error(500)
            return
        if fault == "429":
            self.send_response(429)
            self.send_header("Retry-After", RETRY_AFTER)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "slow":
            time.sleep(SLOW_SECONDS)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if fault == "gzip":  # a server that compresses on the wire (the client must undo it)
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if fault == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextlib.contextmanager
def running(server: ThreadingHTTPServer):
    """Serve ``server`` on a background thread for the ``with`` block (any loopback test server)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fixture_server():
    with running(FixtureServer()) as server:
        yield server


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: what 'no network' looks like to requests."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def real_cfg(tmp_path, monkeypatch):
    """Smoke-profile config with source=real writing under tmp_path."""
    from raregal.core import config

    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    cfg = config.setup("smoke", "real", 0)
    (cfg.paths.raw / "catalogs").mkdir(parents=True)
    return cfg
