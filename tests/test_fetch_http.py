"""The retrying HTTP layer against a real server on 127.0.0.1 with injected faults.

urllib3's Retry (on the session's adapter) retries statuses, refused connections and timeouts; a body cut
short after the headers is retried by :func:`request_with_retries`. Both must draw on one budget of
tries, wait as :class:`RetryPolicy` says and take a rate-limiter slot before every request.
"""
from __future__ import annotations

import numpy as np
import pytest
from fixtures_server import RETRY_AFTER

from raregal.fetch import http
from raregal.fetch.http import (
    FetchError,
    NoNetworkError,
    RateLimiter,
    RetryPolicy,
    check_reachable,
    make_session,
    parse_retry_after,
    request_with_retries,
)

pytest_plugins = ["fixtures_server"]  # the loopback server and its fixtures

BODY = bytes(range(256)) * 40
FAST = RetryPolicy(retries=2, backoff=0.01, backoff_max=0.05, timeout=10.0, delay=0.0)


def serve(server, faults: list[str], path: str = "/file.bin") -> str:
    server.files[path] = BODY
    server.faults[path] = list(faults)
    return server.url + path


class CountingLimiter(RateLimiter):
    """A limiter that hands out every slot at once and counts them."""

    def __init__(self):
        super().__init__(0.0)
        self.slots = 0

    def wait(self) -> None:
        self.slots += 1


@pytest.mark.parametrize("faults", [["truncate", "500"], ["500", "truncate"], ["429", "truncate"]])
def test_truncated_body_and_status_retries_share_one_budget(fixture_server, faults):
    url = serve(fixture_server, faults)
    limiter = CountingLimiter()
    assert request_with_retries(make_session(1), url, policy=FAST, limiter=limiter) == BODY
    assert len(fixture_server.requests_for("/file.bin")) == 3
    assert limiter.slots == 3  # urllib3's retries wait for a slot like the first request


def test_budget_spent_by_a_truncated_body_is_not_given_back(fixture_server):
    url = serve(fixture_server, ["truncate", "500", "500", "500"])
    with pytest.raises(FetchError) as err:
        request_with_retries(make_session(1), url, policy=FAST)
    assert err.value.reason == "HTTP 500 (gave up after 3 tries)"
    assert len(fixture_server.requests_for("/file.bin")) == 3


def test_truncated_body_on_the_last_try_says_so(fixture_server, tmp_path):
    url = serve(fixture_server, ["truncate"] * 3)
    with pytest.raises(FetchError) as err:
        request_with_retries(make_session(1), url, policy=FAST, stream_to=tmp_path / "part")
    assert err.value.reason.startswith("truncated body") and err.value.retryable
    assert err.value.reason.endswith("(gave up after 3 tries)")


def test_404_is_not_retried(fixture_server):
    with pytest.raises(FetchError) as err:
        request_with_retries(make_session(1), fixture_server.url + "/absent", policy=FAST)
    assert err.value.reason == "HTTP 404" and not err.value.retryable
    assert len(fixture_server.requests_for("/absent")) == 1


def test_waits_follow_the_policy_and_retry_after(fixture_server, monkeypatch):
    slept = []
    monkeypatch.setattr("raregal.fetch.http.time.sleep", slept.append)
    policy = RetryPolicy(retries=4, backoff=0.01, backoff_max=0.025, delay=0.0, timeout=10.0)
    url = serve(fixture_server, ["500", "500", "429", "500"])
    assert request_with_retries(make_session(1), url, policy=policy) == BODY
    # back-off b, 2b, then the server's Retry-After, then 4b capped at backoff_max
    assert np.allclose(slept, [0.01, 0.02, float(RETRY_AFTER), 0.025])


def test_plain_session_calls_do_not_retry(fixture_server):
    """What check_reachable relies on to fail fast: retries exist only inside request_with_retries."""
    url = serve(fixture_server, ["500", "500"])
    assert make_session(1).get(url, timeout=10).status_code == 500
    assert len(fixture_server.requests_for("/file.bin")) == 1


def test_session_without_the_polite_adapter_is_refused(fixture_server):
    import requests

    with pytest.raises(TypeError, match="must come from make_session"):
        request_with_retries(requests.Session(), serve(fixture_server, []), policy=FAST)


def test_unreachable_host_gives_up_as_no_network(closed_port_url):
    with pytest.raises(NoNetworkError) as err:
        request_with_retries(make_session(1), closed_port_url + "/x", policy=FAST)
    assert err.value.reason.startswith("connection failed")
    assert err.value.reason.endswith("(gave up after 3 tries)")


def test_unreachable_host_stops_with_one_clear_message(closed_port_url):
    with pytest.raises(NoNetworkError) as err:
        check_reachable(closed_port_url + "/viewer", instead="copy FITS into data/raw/legacy_survey",
                        timeout=1.0)
    msg = str(err.value)
    assert msg.startswith(f"cannot reach {closed_port_url[7:]}: no network")
    assert "data/raw/legacy_survey" in msg and "Traceback" not in msg


def test_retry_after_forms_and_rate_limiter_spacing(monkeypatch):
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.3") == 0.3  # urllib3's own parser refuses fractions
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    policy = RetryPolicy(backoff=1.0, backoff_max=5.0, retry_after_max=30.0)
    assert [policy.wait_after(k) for k in range(4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.wait_after(0, retry_after=100.0) == 30.0
    # the limiter hands out start slots one interval apart; check them on a fake clock (no wall-clock timing)
    clock = {"now": 100.0}
    monkeypatch.setattr("raregal.fetch.http.time.monotonic", lambda: clock["now"])
    monkeypatch.setattr("raregal.fetch.http.time.sleep", lambda s: clock.__setitem__("now", clock["now"] + s))
    limiter, starts = RateLimiter(0.05), []
    for late in (0.0, 0.0, 0.02, 0.2):  # the caller may come back late; slots never come closer than 0.05
        clock["now"] += late
        limiter.wait()
        starts.append(clock["now"])
    assert np.allclose(np.diff(starts), [0.05, 0.05, 0.2])


def test_download_file_streams_atomically_and_records_its_checksum(fixture_server, tmp_path):
    url = serve(fixture_server, ["truncate"])
    dest = http.download_file(url, tmp_path / "f.bin", make_session(1), FAST)
    assert dest.read_bytes() == BODY
    assert (tmp_path / "f.bin.sha256").read_text().split()[0] == http.sha256_of(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin", "f.bin.sha256"]


def test_a_body_compressed_on_the_wire_is_decoded_not_called_truncated(fixture_server, tmp_path):
    """Content-Length counts compressed bytes; the file must hold what the server compressed."""
    url = serve(fixture_server, ["gzip"] * 6)  # every try compressed: no plain retry can hide it
    dest = http.download_file(url, tmp_path / "f.bin", make_session(1), FAST)
    assert dest.read_bytes() == BODY
