"""Legacy Surveys cutouts against a real HTTP server on 127.0.0.1 with injected faults.

Every fault must end in a cached, valid file or a reported failure (id, reason): never a half-written
file, never a silent skip. Back-off values are tiny so the whole file runs in seconds.
"""
from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from fixtures_server import RETRY_AFTER, anomaly_files, cutout_array, gama_files

from raregal.fetch import legacy_survey as ls
from raregal.fetch.http import NoNetworkError, RetryPolicy

pytest_plugins = ["fixtures_server"]  # the loopback server and its fixtures

FAST = RetryPolicy(retries=3, backoff=0.01, backoff_max=0.05, timeout=10.0, delay=0.0)
SPEC = ls.CutoutSpec(size=16)


def targets(n: int, start: int = 0) -> pd.DataFrame:
    i = np.arange(start, start + n)
    return pd.DataFrame({"id": i, "ra": 150.0 + 0.01 * i, "dec": 2.0 + 0.001 * i})


def ra_key(ra: float) -> str:
    return f"{ra:.6f}"


def leftovers(folder) -> list:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]


def fetch(server, tmp_path, rows, policy=FAST, **kw):
    return ls.fetch_cutouts(rows, tmp_path / "cache", SPEC, server.url + "/viewer", policy,
                            workers=kw.pop("workers", 2), progress=False, **kw)


def test_clean_batch_caches_exact_cubes_and_rerun_uses_cache(fixture_server, tmp_path):
    rows = targets(4)
    rep = fetch(fixture_server, tmp_path, rows)
    assert (rep.n_downloaded, rep.n_cached, len(rep.failures)) == (4, 0, 0)
    for r in rows.itertuples():
        path = rep.paths[r.id]
        assert path == ls.cache_path(tmp_path / "cache", r.ra, r.dec, SPEC)
        np.testing.assert_array_equal(ls.read_cutout(path, SPEC), cutout_array(r.ra, r.dec, 16))
    q = fixture_server.requests_for("/viewer/fits-cutout")[0]
    assert (q["layer"], q["bands"], q["size"], q["pixscale"]) == ("ls-dr10", "grz", "16", "0.262")
    n_before = len(fixture_server.log)
    rep2 = fetch(fixture_server, tmp_path, rows)
    assert (rep2.n_downloaded, rep2.n_cached) == (0, 4)
    assert len(fixture_server.log) == n_before  # nothing requested again


def test_cache_key_separates_layer_size_and_bands(tmp_path):
    base = ls.cache_path(tmp_path, 10.0, -5.0, ls.CutoutSpec())
    others = {ls.cache_path(tmp_path, 10.0, -5.0, ls.CutoutSpec(layer="ls-dr9")),
              ls.cache_path(tmp_path, 10.0, -5.0, ls.CutoutSpec(size=64)),
              ls.cache_path(tmp_path, 10.0, -5.0, ls.CutoutSpec(bands="gr")),
              ls.cache_path(tmp_path, 10.000001, -5.0, ls.CutoutSpec())}
    assert base not in others and len(others) == 4


@pytest.mark.parametrize("faults", [["500"], ["500", "503"], ["truncate"], ["slow"]])
def test_transient_faults_end_in_a_good_cached_file(fixture_server, tmp_path, faults):
    rows = targets(2)
    fixture_server.faults[ra_key(rows.ra[0])] = [f if f != "503" else "500" for f in faults]
    # a short timeout only where the fault needs one: a loaded machine may answer slowly
    policy = RetryPolicy(retries=3, backoff=0.01, timeout=0.5 if "slow" in faults else 10.0,
                         delay=0.0)
    rep = fetch(fixture_server, tmp_path, rows, policy)
    assert rep.failures.empty and rep.n_downloaded == 2
    asked = [q for q in fixture_server.requests_for("/viewer/fits-cutout")
             if q["ra"] == ra_key(rows.ra[0])]
    assert len(asked) == len(faults) + 1  # each fault cost exactly one retry
    np.testing.assert_array_equal(ls.read_cutout(rep.paths[0], SPEC),
                                  cutout_array(rows.ra[0], rows.dec[0], 16))
    assert leftovers(tmp_path / "cache") == []


def test_429_honours_retry_after_not_the_tiny_backoff(fixture_server, tmp_path):
    rows = targets(1)
    fixture_server.faults[ra_key(rows.ra[0])] = ["429"]
    rep = fetch(fixture_server, tmp_path, rows)
    assert rep.failures.empty
    times = [t for t, p, _ in fixture_server.log if p == "/viewer/fits-cutout"]
    assert len(times) == 2
    assert times[1] - times[0] >= float(RETRY_AFTER) * 0.9  # back-off alone would be 0.01 s


@pytest.mark.parametrize("fault, reason", [("corrupt", "not a readable FITS"),
                                           ("bands2", "expected 3 bands (grz)"),
                                           ("nan", "non-finite")])
def test_bad_content_is_reported_not_cached(fixture_server, tmp_path, fault, reason):
    rows = targets(3)
    bad = rows.iloc[1]
    fixture_server.faults[ra_key(bad.ra)] = [fault] * 10
    rep = fetch(fixture_server, tmp_path, rows)
    assert sorted(rep.paths) == [0, 2]
    assert list(rep.failures["id"]) == [1]
    assert reason in rep.failures["reason"].iloc[0]
    assert not ls.cache_path(tmp_path / "cache", bad.ra, bad.dec, SPEC).exists()
    assert leftovers(tmp_path / "cache") == []
    # content errors are not retried: the server said the same thing it will say again
    assert sum(q["ra"] == ra_key(bad.ra) for q in fixture_server.requests_for(
        "/viewer/fits-cutout")) == 1


def test_persistent_timeout_and_5xx_give_up_with_a_reason(fixture_server, tmp_path):
    rows = targets(3)
    fixture_server.faults[ra_key(rows.ra[0])] = ["slow"] * 10
    fixture_server.faults[ra_key(rows.ra[2])] = ["500"] * 10
    policy = RetryPolicy(retries=1, backoff=0.01, timeout=0.5, delay=0.0)
    rep = fetch(fixture_server, tmp_path, rows, policy, workers=3)
    reasons = dict(zip(rep.failures["id"], rep.failures["reason"]))
    assert sorted(reasons) == [0, 2] and list(rep.paths) == [1]
    assert "timeout" in reasons[0] and "gave up after 2 tries" in reasons[0]
    assert reasons[2].startswith("HTTP 500")
    assert {"id", "ra", "dec", "reason"} <= set(rep.failures.columns)


def test_interrupted_batch_reruns_only_the_missing_cutouts(fixture_server, tmp_path):
    rows = targets(8)
    done = []

    def stop_after_three(i, path, reason):
        done.append(i)
        if len(done) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(fixture_server, tmp_path, rows, workers=1, on_result=stop_after_three)
    cached = {r.id for r in rows.itertuples()
              if ls.cache_path(tmp_path / "cache", r.ra, r.dec, SPEC).exists()}
    assert 3 <= len(cached) < 8 and leftovers(tmp_path / "cache") == []
    first = len(fixture_server.log)
    rep = fetch(fixture_server, tmp_path, rows)
    again = {q["ra"] for q in fixture_server.requests_for("/viewer/fits-cutout")[first:]}
    missing = {ra_key(r.ra) for r in rows.itertuples() if r.id not in cached}
    assert again == missing
    assert (rep.n_cached, rep.n_downloaded, len(rep.paths)) == (len(cached), 8 - len(cached), 8)


def test_damaged_cache_file_is_fetched_again(fixture_server, tmp_path):
    rows = targets(1)
    path = ls.cache_path(tmp_path / "cache", rows.ra[0], rows.dec[0], SPEC)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")
    rep = fetch(fixture_server, tmp_path, rows)
    assert rep.n_downloaded == 1
    assert ls.read_cutout(path, SPEC).shape == (3, 16, 16)


def test_targets_without_coordinates_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"need columns \['dec'\]"):
        ls.fetch_cutouts(pd.DataFrame({"id": [1], "ra": [1.0]}), tmp_path, progress=False)


def test_fetch_time_estimate_is_rate_bound_at_the_polite_delay():
    assert ls.estimate_fetch_seconds(26433, delay=0.8, workers=4, latency=1.0) == pytest.approx(
        26433 * 0.8)
    assert ls.estimate_fetch_seconds(100, delay=0.1, workers=2, latency=1.0) == pytest.approx(50)


def test_write_cutouts_h5_matches_contract(fixture_server, tmp_path):
    rows = targets(3)
    rep = fetch(fixture_server, tmp_path, rows)
    out = ls.write_cutouts_h5(rows["id"].to_numpy(), [rep.paths[i] for i in rows["id"]],
                              tmp_path / "cutouts.h5", SPEC)
    with h5py.File(out) as h5:
        assert h5["images"].dtype == np.float32 and h5["images"].shape == (3, 3, 16, 16)
        assert h5["id"].dtype == np.int64 and list(h5["id"][:]) == [0, 1, 2]
        np.testing.assert_array_equal(h5["images"][2], cutout_array(rows.ra[2], rows.dec[2], 16))


def test_prepare_survey_a_writes_the_mock_layout_and_lists_failures(fixture_server, real_cfg):
    folder = real_cfg.paths.raw / "catalogs"
    truth = gama_files(folder, n=5)
    anomaly_files(folder)
    fixture_server.faults[ra_key(truth["ra"][3])] = ["corrupt"]
    real_cfg = real_cfg.with_overrides(survey_a={"n_normal": 4})  # profile size: 4 of the 5 normal galaxies
    res = ls.prepare_survey_a(real_cfg, fixture_server.url + "/viewer", spec=ls.CutoutSpec(),
                              policy=FAST, workers=2, progress=False)
    out = real_cfg.data_dir("interim", "survey_a")
    kept = pd.read_parquet(out / "catalog.parquet")
    failures = pd.read_csv(out / "fetch_failures.csv")
    assert res["n_requested"] == 8 and res["n_kept"] + res["n_failed"] == 8
    assert set(kept["class"]) == {"normal", "green_pea", "red_spiral"}
    assert {"id", "ra", "dec", "class", "z", "z_err", "logmstar", "logmstar_err", "logsfr",
            "logsfr_err"} <= set(kept.columns)
    with h5py.File(out / "cutouts.h5") as h5:
        assert h5["images"].shape == (len(kept), 3, 128, 128) and h5["images"].dtype == np.float32
        np.testing.assert_array_equal(h5["id"][:], kept["id"].to_numpy())
        for i in (0, len(kept) - 1):
            r = kept.iloc[i]
            np.testing.assert_array_equal(h5["images"][i], cutout_array(r.ra, r.dec, 128))
    # seeded subsample keeps galaxies 0-3 (the corrupt one, 3, among them) and drops 4
    assert failures["id"].tolist() == [3] and failures["class"].tolist() == ["normal"]
    assert "not a readable FITS" in failures["reason"][0]
    assert kept["id"].tolist() == [0, 1, 2, 5, 6, 7, 8]
    assert res["by_class"] == {"normal": 3, "green_pea": 2, "red_spiral": 2}
    from raregal.mock import survey as mock_survey  # 01_fetch summarises real data the same way
    summary = mock_survey.summary_table(kept).set_index(["class", "quantity"])["ours"]
    assert summary[("all", "count")] == 7 and summary[("red_spiral", "count")] == 2


def test_prepare_survey_a_offline_stops_before_writing_anything(real_cfg, closed_port_url):
    gama_files(real_cfg.paths.raw / "catalogs", n=3)
    anomaly_files(real_cfg.paths.raw / "catalogs")
    with pytest.raises(NoNetworkError) as err:
        ls.prepare_survey_a(real_cfg, closed_port_url + "/viewer", policy=FAST, progress=False)
    msg = str(err.value)
    assert msg.startswith("cannot reach 127.0.0.1") and "copy FITS cutouts named like" in msg
    assert str(real_cfg.paths.raw / "legacy_survey" / "ls-dr10" / "grz-128px-0.262") in msg
    assert not real_cfg.data_dir("interim", "survey_a").exists()
