"""Survey-scale inference (raregal.paper_a.infer) on a tiny mock survey with an in-process LocalCluster.

What must hold: the catalog equals the notebooks' in-process path (eq. 1 → resize → latents.encode) to
float tolerance; the bundle is loaded once per worker; a rerun writes only the shards that are not done;
every bad input (unreadable or truncated shard, FITS cutout with a missing band or NaN pixels, a bundle
without its preprocessing constants, a scheduler that does not answer) is a clear error or a listed drop.
"""
from __future__ import annotations

import json
import socket

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from raregal.mock.survey import write_survey
from raregal.paper_a import latents
from raregal.paper_a.cvae.model import Arch, ConvVAE
from raregal.paper_a.infer import cli, engine, parts, steps
from raregal.paper_a.infer.bundle import BundleError, load_bundle, save_bundle
from raregal.paper_a.infer.calibration import QUANTITIES, fit_calibration
from raregal.paper_a.infer.from_run import fit_svm
from raregal.paper_a.infer.intervals import fit_intervals
from raregal.paper_a.infer.shards import discover

SHARD = 20


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """~60 mock galaxies (a few bad cutouts among them) in one cutouts.h5 + catalog.parquet."""
    d = tmp_path_factory.mktemp("survey")
    write_survey(d, n_normal=48, n_green_pea=6, n_red_spiral=6, bad_fraction=0.05, seed=3)
    with h5py.File(d / "cutouts.h5", "r") as h5:
        images, ids = h5["images"][:], h5["id"][:]
    return {"dir": d, "h5": d / "cutouts.h5", "images": images, "ids": ids,
            "catalog": pd.read_parquet(d / "catalog.parquet")}


@pytest.fixture(scope="module")
def bundle_dir(survey, tmp_path_factory):
    """A tiny untrained CVAE bundled with calibrations fitted on its own latents of the survey."""
    torch.manual_seed(0)
    model = ConvVAE(Arch(channels=(4, 8))).eval()
    d = tmp_path_factory.mktemp("bundle")
    torch.save({"arch": model.arch.as_dict(), "state_dict": model.state_dict(), "epoch": 0}, d / "best.pt")
    reasons, _ = steps.screen(survey["images"])
    keep = reasons == ""
    band_max = survey["images"][keep].reshape(keep.sum(), 3, -1).max(-1).mean(0)
    x = steps.model_input(survey["images"][keep], band_max, steps.BETA, 69)
    mu = latents.encode(model, x)
    cat = survey["catalog"][keep]
    values = {q: cat[q].to_numpy() for q in QUANTITIES}
    calibration = fit_calibration(mu, values)
    intervals = fit_intervals("conformal", values, calibration.predict(mu))
    pre = {"bands": list(steps.BANDS), "band_max_mean": [float(v) for v in band_max], "beta": steps.BETA,
           "raw_size": steps.RAW_SIZE, "size": 69, "orientation_method": "fast"}
    return save_bundle(d / "bundle", d / "best.pt", pre, calibration, intervals,
                       fit_svm(mu, cat["class"].to_numpy()))


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    c = Client(cluster)
    yield c
    engine.close_client(c)


def test_catalog_equals_in_process_encode_and_bundle_loads_once_per_worker(survey, bundle_dir, client, tmp_path):
    loads = engine.LOADS["count"]
    summary = engine.run_inference(survey["h5"], bundle_dir, tmp_path, client=client, shard_size=SHARD,
                                   progress=False)
    assert summary.n_shards == 3 and summary.written == 3 and summary.skipped == 0
    assert engine.LOADS["count"] - loads == 2  # two workers, three tasks
    cat = pd.read_parquet(tmp_path / "catalog").sort_values("id").reset_index(drop=True)
    drops = pd.read_parquet(tmp_path / "drops.parquet")
    assert drops["id"].notna().all(), f"a shard-level drop:\n{drops.to_string()}"
    assert sorted([*cat["id"], *drops["id"]]) == sorted(survey["ids"])  # nothing lost silently
    assert summary.n_galaxies == len(cat) and summary.n_dropped == len(drops)

    bundle = load_bundle(bundle_dir)
    reasons, orientation = steps.screen(survey["images"])
    keep = reasons == ""
    assert set(drops["id"]) == set(survey["ids"][~keep])
    assert dict(zip(drops["id"], drops["reason"])) == dict(zip(survey["ids"][~keep], reasons[~keep]))
    x = steps.model_input(survey["images"][keep], bundle.band_max_mean, steps.BETA, 69)
    mu = latents.encode(bundle.model, x)
    order = np.argsort(survey["ids"][keep])
    np.testing.assert_array_equal(cat["id"], survey["ids"][keep][order])
    np.testing.assert_allclose(cat[[f"latent_{k}" for k in range(1, 6)]], mu[order], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cat["orientation"], orientation[keep][order], atol=1e-6)
    est = bundle.calibration.predict(mu[order])
    for q in QUANTITIES:
        np.testing.assert_allclose(cat[q], est[q], rtol=1e-5, atol=1e-4)
        assert (cat[f"{q}_lo68"] < cat[q]).all() and (cat[q] < cat[f"{q}_hi68"]).all()
        assert (cat[f"{q}_hi95"] - cat[f"{q}_lo95"] > cat[f"{q}_hi68"] - cat[f"{q}_lo68"]).all()
    proba = cat[[f"p_{c}" for c in bundle.svm.classes_]].to_numpy()
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    assert (cat["recon_error"] > 0).all()


def test_a_second_run_on_the_same_cluster_does_not_reload_the_bundle(survey, bundle_dir, client, tmp_path):
    engine.run_inference(survey["h5"], bundle_dir, tmp_path / "a", client=client, shard_size=SHARD, progress=False)
    loads = engine.LOADS["count"]
    summary = engine.run_inference(survey["h5"], bundle_dir, tmp_path / "b", client=client, shard_size=SHARD,
                                   progress=False)
    assert summary.written == 3 and engine.LOADS["count"] == loads


def test_virtual_survey_shards_cycle_the_base_cutouts_with_new_ids(survey, tmp_path):
    from raregal.paper_a.infer.scale import virtual_survey

    n_base = len(survey["ids"])
    assert virtual_survey(survey["h5"], tmp_path, 2 * n_base + 5, shard_size=n_base) == 3
    shards, _ = discover(tmp_path, n_base)
    with h5py.File(tmp_path / "shard-00001.h5", "r") as h5:
        np.testing.assert_array_equal(h5["images"][:], survey["images"])
        np.testing.assert_array_equal(h5["id"][:], np.arange(n_base, 2 * n_base))
    with h5py.File(tmp_path / "shard-00002.h5", "r") as h5:
        np.testing.assert_array_equal(h5["images"][:], survey["images"][:5])
    assert sum(s.n_expected for s in shards) == 2 * n_base + 5


def test_step_times_bound_the_end_to_end_ratio_from_above(survey, bundle_dir, tmp_path):
    from raregal.paper_a.infer import scale
    from raregal.paper_a.infer.bundle import load_bundle

    n_base = len(survey["ids"])
    scale.virtual_survey(survey["h5"], tmp_path, 2 * n_base, shard_size=n_base)
    ms = {"read": scale.read_time(tmp_path, n_base), **scale.step_times(load_bundle(bundle_dir), survey["images"])}
    # (decode is a difference of two timings, which noise can make negative on 40 cutouts: not used here)
    assert all(np.isfinite(ms[k]) and ms[k] > 0 for k in (*scale.BOUND_STEPS, "screen_orientation")), ms
    screened_free = scale.bound_over_encode(ms)
    preprocessing_free = scale.bound_over_encode(ms, scale.CEILING_STEPS)
    assert 0 < screened_free < preprocessing_free < 1
    # every step the bound leaves out would only lower it: the full path's ratio (no decoder) sits below
    assert ms["encode"] / sum(v for k, v in ms.items() if k != "decode") < screened_free


def test_rerun_writes_only_missing_or_damaged_shards(survey, bundle_dir, client, tmp_path):
    engine.run_inference(survey["h5"], bundle_dir, tmp_path, client=client, shard_size=SHARD, progress=False)
    shards, _ = discover(survey["h5"], SHARD)
    first, second, third = (parts.catalog_part(tmp_path, s.name) for s in shards)
    first.unlink()  # killed before this shard's part was renamed into place
    second.write_bytes(second.read_bytes()[:100])  # a damaged part does not validate
    kept = third.stat().st_mtime_ns
    summary = engine.run_inference(survey["h5"], bundle_dir, tmp_path, client=client, shard_size=SHARD,
                                   progress=False)
    assert (summary.written, summary.skipped) == (2, 1)
    assert third.stat().st_mtime_ns == kept
    again = engine.run_inference(survey["h5"], bundle_dir, tmp_path, client=client, shard_size=SHARD,
                                 progress=False)
    assert (again.written, again.skipped) == (0, 3)
    assert again.n_galaxies == summary.n_galaxies and len(pd.read_parquet(tmp_path / "catalog")) == again.n_galaxies


def test_unreadable_and_truncated_shards_are_listed_drops(survey, bundle_dir, client, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = survey["h5"].read_bytes()
    (folder / "a_good.h5").write_bytes(good)
    (folder / "b_garbage.h5").write_bytes(b"not an hdf5 file" * 100)
    (folder / "c_truncated.h5").write_bytes(good[:len(good) // 2])
    summary = engine.run_inference(folder, bundle_dir, tmp_path / "out", client=client, shard_size=SHARD,
                                   progress=False)
    drops = pd.read_parquet(tmp_path / "out" / "drops.parquet")
    lost = drops[drops["reason"].isin(["unreadable_shard", "unreadable"])]
    assert {s.split("-")[0] for s in lost["shard"]} == {"b_garbage", "c_truncated"}
    assert "b_garbage.h5" in " ".join(lost["detail"])
    assert summary.failed_shards == [] and summary.n_galaxies > 0
    assert summary.drops_by_reason.get("unreadable_shard", 0) >= 1


def _write_fits(path, cube):
    from astropy.io import fits

    fits.PrimaryHDU(np.asarray(cube, np.float32)).writeto(path)


def test_fits_folder_missing_band_nan_and_unnamed_cutouts_are_counted(survey, bundle_dir, client, tmp_path):
    folder = tmp_path / "fits"
    folder.mkdir()
    good = np.flatnonzero(steps.screen(survey["images"])[0] == "")[:4]
    for i in good:
        _write_fits(folder / f"{survey['ids'][i]}.fits", survey["images"][i])
    _write_fits(folder / "901.fits", survey["images"][good[0]][:2])  # g and r only
    _write_fits(folder / "902.fits", np.full((3, 128, 128), np.nan))
    _write_fits(folder / "903.fits", survey["images"][good[0]][:, :64, :64])
    _write_fits(folder / "galaxy.fits", survey["images"][good[0]])
    (folder / "904.fits").write_bytes(b"SIMPLE  =  garbage")
    summary = engine.run_inference(folder, bundle_dir, tmp_path / "out", client=client, shard_size=3,
                                   progress=False)
    drops = pd.read_parquet(tmp_path / "out" / "drops.parquet")
    by_id = dict(zip(drops["id"].astype("float"), drops["reason"]))
    assert by_id[901] == "missing_band" and by_id[902] == "non_finite" and by_id[903] == "wrong_shape"
    assert by_id[904] == "unreadable"
    assert "galaxy.fits" in drops.loc[drops["reason"] == "bad_id", "detail"].iloc[0]
    assert summary.n_galaxies == len(good)
    cat = pd.read_parquet(tmp_path / "out" / "catalog")
    assert sorted(cat["id"]) == sorted(survey["ids"][good])


def test_bundle_without_preprocessing_constants_is_a_clear_error(bundle_dir, tmp_path):
    import shutil

    broken = tmp_path / "bundle"
    shutil.copytree(bundle_dir, broken)
    pre = json.loads((broken / "preprocess.json").read_text())
    del pre["band_max_mean"]
    (broken / "preprocess.json").write_text(json.dumps(pre))
    with pytest.raises(BundleError, match="band_max_mean"):
        load_bundle(broken, verify=False)
    with pytest.raises(BundleError, match="changed since the bundle was saved"):
        load_bundle(broken)
    (broken / "preprocess.json").unlink()
    with pytest.raises(BundleError, match=r"preprocess\.json \(the preprocessing constants"):
        engine.run_inference(tmp_path, broken, tmp_path / "out", progress=False)
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scheduler_that_does_not_answer_is_a_clear_error(survey, bundle_dir, tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(engine.InferError, match="no Dask scheduler answers"):
        engine.make_client(address, timeout=1)
    code = cli.main([str(survey["h5"]), "--model", str(bundle_dir), "--out", str(tmp_path), "--scheduler", address,
                     "--quiet"])
    assert code == 2 and "no Dask scheduler answers at " + address in capsys.readouterr().err


def test_cli_runs_on_an_existing_scheduler_and_resumes(survey, bundle_dir, client, tmp_path, capsys):
    args = [str(survey["h5"]), "--model", str(bundle_dir), "--out", str(tmp_path), "--scheduler",
            client.scheduler.address, "--shard-size", str(SHARD), "--quiet", "--no-reconstruction"]
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["written"] == 3 and first["n_galaxies"] > 0
    assert pd.read_parquet(tmp_path / "catalog")["recon_error"].isna().all()
    assert cli.main(args) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (second["written"], second["skipped"]) == (0, 3)
    assert "--scheduler" in cli.build_parser().format_help() and "dask-jobqueue" in cli.build_parser().format_help()


def test_local_cluster_workers_spawn_with_the_allocator_settings():
    client = engine.make_client(workers=1, threads=1, processes=True)
    try:
        env = list(client.run(engine._allocator_env).values())
        assert env == [engine.WORKER_MALLOC_ENV] and engine.allocator_hint(client) is None
    finally:
        engine.close_client(client)


def test_workers_without_the_allocator_settings_get_a_hint_that_names_them(client, monkeypatch):
    for key in engine.WORKER_MALLOC_ENV:  # the in-process workers share this process's environment
        monkeypatch.delenv(key, raising=False)
    hint = engine.allocator_hint(client)
    assert hint.startswith("2 worker(s)") and all(f"{k}={v}" in hint for k, v in engine.WORKER_MALLOC_ENV.items())
    for key, value in engine.WORKER_MALLOC_ENV.items():
        monkeypatch.setenv(key, value)
    assert engine.allocator_hint(client) is None
