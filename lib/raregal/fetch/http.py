"""One polite, retrying HTTP layer for every download (cutouts, catalogs, image archives).

Why one layer: the Legacy Surveys cutout service and Zenodo answer slowly, rate-limit (429) and fail
transiently (5xx, dropped connections, truncated bodies). Every request goes through
:func:`request_with_retries` / :func:`download_file`. Retries of a status (429, 5xx), a refused or
dropped connection and a timeout are urllib3's :class:`urllib3.util.Retry` on the session's
``HTTPAdapter`` (:class:`PoliteRetry`: this layer's back-off, ``Retry-After`` in seconds or as a date,
and the shared politeness interval before every retry); a body cut short after the headers arrived is
outside urllib3's reach and is retried here, from the same budget of tries. Nothing is left
half-written (writes go through :func:`raregal.core.outputs.atomic_path`). A host that cannot be
reached at all raises :class:`NoNetworkError` with one message that says what to do instead.
"""
from __future__ import annotations

import contextlib
import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError, ReadTimeoutError
from urllib3.util import Retry

from raregal.core.outputs import atomic_path

USER_AGENT = "raregal/0.1 (rare-galaxies reproduction; polite batch fetcher)"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class FetchError(RuntimeError):
    """One download failed for a stated reason (after retries, or a permanent answer).

    ``tries`` counts the requests this failure used up (urllib3's retries included), so the caller
    can keep one budget across the retries of a truncated body.
    """

    def __init__(self, reason: str, url: str = "", retryable: bool = False, tries: int = 1):
        super().__init__(f"{reason} ({url})" if url else reason)
        self.reason = reason
        self.url = url
        self.retryable = retryable
        self.tries = tries


class InvalidContentError(FetchError):
    """The server answered, but the body is not what was asked for (corrupt FITS, wrong shape)."""


class NoNetworkError(FetchError):
    """The host cannot be reached at all: no network, DNS failure, or a firewall."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit the public services; tests pass tiny values.

    ``delay`` is the politeness interval between request *starts* across all threads (public code
    for the Legacy Surveys waits ≈0.8 s); back-off after the k-th failure is
    ``min(backoff * 2**k, backoff_max)`` seconds unless the server sends ``Retry-After`` (then that,
    at most ``retry_after_max`` seconds). ``timeout`` is seconds per request.
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


class PoliteRetry(Retry):
    """urllib3's Retry with this layer's schedule (:meth:`RetryPolicy.wait_after`) and rate limiter.

    urllib3's own back-off skips the wait after the first failure and its ``Retry-After`` parser
    refuses fractional seconds; both are replaced so the waits stay those of :class:`RetryPolicy`.
    A retry waits, then takes a start slot from ``limiter`` like any other request.
    """

    def __init__(self, *args, policy: RetryPolicy = RetryPolicy(), limiter: RateLimiter | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.limiter = limiter

    @classmethod
    def for_policy(cls, policy: RetryPolicy, limiter: RateLimiter | None = None,
                   total: int | None = None) -> "PoliteRetry":
        """``total`` retries (default ``policy.retries``) of GET/HEAD on 429/5xx, connection errors
        and timeouts; after the last one the 429/5xx answer itself is returned, not an exception."""
        return cls(total=policy.retries if total is None else total, status_forcelist=RETRY_STATUS,
                   allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False,
                   raise_on_redirect=False, policy=policy, limiter=limiter)

    def new(self, **kwargs) -> "PoliteRetry":
        retry = super().new(**kwargs)
        retry.policy, retry.limiter = self.policy, self.limiter
        return retry

    def get_retry_after(self, response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def get_backoff_time(self) -> float:
        return self.policy.wait_after(len(self.history) - 1) if self.history else 0.0

    def sleep(self, response=None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        time.sleep(self.policy.wait_after(max(len(self.history) - 1, 0), retry_after))
        if self.limiter is not None:
            self.limiter.wait()


class PoliteAdapter(requests.adapters.HTTPAdapter):
    """An HTTPAdapter whose Retry can be set for the calling thread only.

    One pooled session is shared by the worker threads of a batch, while the retry budget belongs to
    one call of :func:`request_with_retries` (its policy, its limiter, the tries a truncated body
    already used); requests offers no per-request retries, so the adapter reads them per thread.
    """

    def __init__(self, pool_size: int):
        self._local = threading.local()
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size,
                         max_retries=Retry(0, read=False))  # requests' default: no retries

    @property
    def max_retries(self) -> Retry:
        return getattr(self._local, "retry", None) or self._default_retry

    @max_retries.setter
    def max_retries(self, retry: Retry) -> None:
        self._default_retry = retry

    @contextlib.contextmanager
    def retrying(self, retry: Retry) -> Iterator[None]:
        self._local.retry = retry
        try:
            yield
        finally:
            self._local.retry = None


def make_session(pool_size: int = 8) -> requests.Session:
    """A session with keep-alive pooling sized for the worker count.

    Plain calls on it do not retry (so :func:`check_reachable` fails fast); :func:`request_with_retries`
    sets its policy's :class:`PoliteRetry` on the adapter for the duration of its call.
    """
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = PoliteAdapter(pool_size)
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


def _fetch_error(err: requests.exceptions.RequestException, url: str, policy: RetryPolicy,
                 tries: int) -> FetchError:
    """The retryable FetchError for a failed request (``tries`` requests used, urllib3's included)."""
    given_up = err.args[0] if err.args and isinstance(err.args[0], MaxRetryError) else None
    if isinstance(err, requests.exceptions.ConnectionError) and _is_unreachable(err):
        return NoNetworkError(f"connection failed: {_short(err)}", url, retryable=True, tries=tries)
    if isinstance(err, requests.exceptions.Timeout) or (
            given_up is not None and isinstance(given_up.reason, ReadTimeoutError)):
        return FetchError(f"timeout after {policy.timeout:g} s", url, retryable=True, tries=tries)
    if isinstance(err, requests.exceptions.ConnectionError):
        return FetchError(f"connection broken: {_short(err)}", url, retryable=True, tries=tries)
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return FetchError(f"truncated body: {_short(err)}", url, retryable=True, tries=tries)
    return FetchError(f"request failed: {_short(err)}", url, retryable=True, tries=tries)


def _read_body(resp: requests.Response, stream_to: Path | None, tries: int) -> bytes | None:
    """The body (or None when streamed to ``stream_to``); a short body raises a retryable FetchError.

    Content-Length counts the bytes on the wire; a body the server compressed (Content-Encoding) is
    decoded here, so its length is not compared (a cut-off compressed stream fails to decode instead).
    """
    encoded = resp.headers.get("Content-Encoding", "identity").lower() not in ("", "identity")
    expected = None if encoded else resp.headers.get("Content-Length")
    n = 0
    chunks = []
    with open(stream_to, "wb") if stream_to is not None else contextlib.nullcontext() as sink:
        for chunk in resp.iter_content(chunk_size=1 << 20):
            n += len(chunk)
            if sink is not None:
                sink.write(chunk)
            else:
                chunks.append(chunk)
    if expected is not None and n != int(expected):
        raise FetchError(f"truncated body: {n} of {expected} bytes", resp.url, retryable=True,
                         tries=tries)
    return None if stream_to is not None else b"".join(chunks)


def _attempt(session: requests.Session, url: str, params: dict | None, policy: RetryPolicy,
             retry: PoliteRetry, stream_to: Path | None) -> bytes | None:
    """One request with urllib3's retries (``retry``), then its body read once; raises FetchError."""
    adapter = session.get_adapter(url)
    if not isinstance(adapter, PoliteAdapter):
        raise TypeError(f"session for {url} must come from make_session() (its adapter sets the retries)")
    try:
        with adapter.retrying(retry):
            resp = session.get(url, params=params, timeout=policy.timeout, stream=True)
    except requests.exceptions.RequestException as err:  # urllib3 has used up the budget
        raise _fetch_error(err, url, policy, tries=retry.total + 1) from None
    with resp:
        tries = len(resp.raw.retries.history) + 1 if resp.raw.retries is not None else 1
        if resp.status_code in RETRY_STATUS:  # the answer of urllib3's last try
            raise FetchError(f"HTTP {resp.status_code}", resp.url, retryable=True, tries=tries)
        if resp.status_code != 200:
            raise FetchError(f"HTTP {resp.status_code}", resp.url, retryable=False, tries=tries)
        try:
            return _read_body(resp, stream_to, tries)
        except requests.exceptions.RequestException as err:  # outside urllib3's retries
            raise _fetch_error(err, resp.url, policy, tries=tries) from None


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
                         stream_to: Path | None = None):
    """GET with up to ``policy.retries`` retries. Returns ``validate(body)`` (or the body, or None when
    streamed).

    Retries timeouts, connection errors, truncated bodies, 429 and 5xx; a 4xx other than 429 and an
    :class:`InvalidContentError` raised by ``validate`` fail at once (the answer will not change).
    The final error is a :class:`FetchError` whose ``reason`` says what happened on the last try.
    ``session`` comes from :func:`make_session`.
    """
    tries = 0
    while True:
        if limiter is not None:
            limiter.wait()
        retry = PoliteRetry.for_policy(policy, limiter, total=policy.retries - tries)
        try:
            body = _attempt(session, url, params, policy, retry, stream_to)
            return validate(body) if validate is not None and body is not None else body
        except FetchError as err:
            tries += err.tries
            if not err.retryable or tries > policy.retries:
                if err.retryable:
                    err.reason = f"{err.reason} (gave up after {tries} tries)"
                raise
            time.sleep(policy.wait_after(tries - 1))  # only a truncated body gets here: urllib3 read it


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
