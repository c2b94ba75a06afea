"""One polite, retrying HTTP layer for every download (cutouts, catalogs, image archives).

Why one layer: the Legacy Surveys cutout service and Zenodo answer slowly, rate-limit (429) and fail
transiently (5xx, dropped connections, truncated bodies). Every request goes through
:func:`get_bytes` / :func:`download_file`, which retry with exponential back-off (honouring
``Retry-After``), keep a politeness interval between request starts across all threads, and never leave
a half-written file (writes go through :func:`raregal.core.outputs.atomic_path`). A host that cannot be
reached at all raises :class:`NoNetworkError` with one message that says what to do instead.
"""
from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import requests

from raregal.core.outputs import atomic_path

USER_AGENT = "raregal/0.1 (rare-galaxies reproduction; polite batch fetcher)"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class FetchError(RuntimeError):
    """One download failed for a stated reason (after retries, or a permanent answer)."""

    def __init__(self, reason: str, url: str = "", retryable: bool = False):
        super().__init__(f"{reason} ({url})" if url else reason)
        self.reason = reason
        self.url = url
        self.retryable = retryable


class InvalidContentError(FetchError):
    """The server answered, but the body is not what was asked for (corrupt FITS, wrong shape)."""


class NoNetworkError(FetchError):
    """The host cannot be reached at all: no network, DNS failure, or a firewall."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit the public services; tests pass tiny values.

    ``delay`` is the politeness interval between request *starts* across all threads (public code
    for the Legacy Surveys waits ≈0.8 s); back-off after the k-th failure is
    ``min(backoff * 2**k, backoff_max)`` unless the server sends ``Retry-After``.
    """

    retries: int = 5
    backoff: float = 2.0
    backoff_max: float = 120.0
    timeout: float = 60.0
    delay: float = 0.8
    retry_after_max: float = 600.0

    def wait_after(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        return min(self.backoff * 2 ** attempt, self.backoff_max)


class RateLimiter:
    """At most one request start per ``interval`` seconds, shared by all worker threads."""

    def __init__(self, interval: float):
        self.interval = float(interval)
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def make_session(pool_size: int = 8) -> requests.Session:
    """A session with keep-alive pooling sized for the worker count (retries are ours, not urllib3's)."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size,
                                            max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/odd."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def no_network_message(url: str, instead: str) -> str:
    return (f"cannot reach {host_of(url)}: no network, or the service is down? "
            f"Check your connection and rerun (finished downloads are cached and kept), "
            f"or put the files in place yourself instead: {instead}")


def _attempt(session: requests.Session, url: str, params: dict | None, policy: RetryPolicy,
             stream_to: Path | None) -> bytes | None:
    """One request. Returns the body (or None when streamed to ``stream_to``); raises FetchError."""
    try:
        with session.get(url, params=params, timeout=policy.timeout, stream=True) as resp:
            if resp.status_code in RETRY_STATUS:
                err = FetchError(f"HTTP {resp.status_code}", resp.url, retryable=True)
                err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                raise err
            if resp.status_code != 200:
                raise FetchError(f"HTTP {resp.status_code}", resp.url, retryable=False)
            expected = resp.headers.get("Content-Length")
            digest = hashlib.sha256()
            n = 0
            chunks = []
            sink = open(stream_to, "wb") if stream_to is not None else None
            try:
                for chunk in resp.iter_content(chunk_size=1 << 20):
                    n += len(chunk)
                    digest.update(chunk)
                    if sink is not None:
                        sink.write(chunk)
                    else:
                        chunks.append(chunk)
            finally:
                if sink is not None:
                    sink.close()
            if expected is not None and n != int(expected):
                raise FetchError(f"truncated body: {n} of {expected} bytes", resp.url, retryable=True)
            return None if stream_to is not None else b"".join(chunks)
    except requests.exceptions.ConnectionError as err:
        if _is_unreachable(err):
            raise NoNetworkError(f"connection failed: {_short(err)}", url, retryable=True) from None
        raise FetchError(f"connection broken: {_short(err)}", url, retryable=True) from None
    except requests.exceptions.Timeout:
        raise FetchError(f"timeout after {policy.timeout:g} s", url, retryable=True) from None
    except requests.exceptions.ChunkedEncodingError as err:
        raise FetchError(f"truncated body: {_short(err)}", url, retryable=True) from None
    except requests.exceptions.RequestException as err:
        raise FetchError(f"request failed: {_short(err)}", url, retryable=True) from None


def _is_unreachable(err: Exception) -> bool:
    """Refused / DNS / no route (never got an answer) as opposed to a connection dropped mid-answer."""
    text = repr(err)
    return any(s in text for s in ("NameResolution", "Failed to resolve", "Connection refused",
                                   "No route to host", "Network is unreachable", "NewConnectionError",
                                   "getaddrinfo failed", "ConnectTimeout"))


def _short(err: Exception) -> str:
    text = str(err)
    return text if len(text) < 160 else text[:157] + "..."


def request_with_retries(session: requests.Session, url: str, params: dict | None = None,
                         policy: RetryPolicy = RetryPolicy(), limiter: RateLimiter | None = None,
                         validate: Callable[[bytes], object] | None = None,
                         stream_to: Path | None = None, sleep: Callable[[float], None] = time.sleep):
    """GET with retries. Returns ``validate(body)`` (or the body, or None when streamed).

    Retries timeouts, connection errors, truncated bodies, 429 and 5xx; a 4xx other than 429 and an
    :class:`InvalidContentError` raised by ``validate`` fail at once (the answer will not change).
    The final error is a :class:`FetchError` whose ``reason`` says what happened on the last try.
    """
    last: FetchError | None = None
    for attempt in range(policy.retries + 1):
        if limiter is not None:
            limiter.wait()
        try:
            body = _attempt(session, url, params, policy, stream_to)
            return validate(body) if validate is not None and body is not None else body
        except FetchError as err:
            last = err
            if not err.retryable or attempt == policy.retries:
                break
            sleep(policy.wait_after(attempt, getattr(err, "retry_after", None)))
    assert last is not None
    if last.retryable:
        last.reason = f"{last.reason} (gave up after {policy.retries + 1} tries)"
    raise last


def sha256_of(path: Path | str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def download_file(url: str, dest: Path | str, session: requests.Session | None = None,
                  policy: RetryPolicy = RetryPolicy(), expected_sha256: str | None = None,
                  instead: str = "") -> Path:
    """Fetch one (possibly large) file to ``dest`` atomically, unless it is already there.

    A ``<dest>.sha256`` sidecar records the checksum of what was written, so a later run can tell a
    finished download from a file someone truncated. Unreachable hosts raise :class:`NoNetworkError`
    with the ``instead`` hint (where to put the file by hand).
    """
    dest = Path(dest)
    sidecar = dest.with_name(dest.name + ".sha256")
    if dest.exists():
        if expected_sha256 and sha256_of(dest) != expected_sha256:
            raise FetchError(f"{dest} exists but its sha256 differs from the expected one; "
                             f"delete it to download again")
        return dest
    session = session or make_session(1)
    try:
        with atomic_path(dest) as tmp:
            request_with_retries(session, url, policy=policy, stream_to=tmp)
            digest = sha256_of(tmp)
            if expected_sha256 and digest != expected_sha256:
                raise FetchError(f"sha256 mismatch: got {digest}, expected {expected_sha256}", url)
    except NoNetworkError:
        raise NoNetworkError(no_network_message(url, instead or f"place the file at {dest}"),
                             url) from None
    with atomic_path(sidecar) as tmp:
        tmp.write_text(f"{digest}  {dest.name}\n")
    return dest


def check_reachable(url: str, instead: str, session: requests.Session | None = None,
                    timeout: float = 10.0) -> None:
    """Fail fast, with one clear message, when ``url``'s host cannot be reached at all.

    Any HTTP answer (even 404) counts as reachable; only refused/unresolvable/timed-out connections
    raise :class:`NoNetworkError`. Called once before a batch so an offline run stops in seconds,
    not after every galaxy has exhausted its retries.
    """
    session = session or make_session(1)
    try:
        session.head(url, timeout=timeout, allow_redirects=False).close()
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
        raise NoNetworkError(no_network_message(url, instead), url) from None
