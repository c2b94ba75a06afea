"""GZ2 real path against a loopback server: Hart16 csv.gz + Zenodo zip/mapping → contract layout."""
from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from fixtures_server import jpeg_bytes
from PIL import Image

from raregal.fetch import gz2
from raregal.fetch.catalogs import CatalogError
from raregal.fetch.http import NoNetworkError, RetryPolicy, sha256_of

pytest_plugins = ["fixtures_server"]  # the loopback server and its fixtures

FAST = RetryPolicy(retries=2, backoff=0.01, timeout=10.0, delay=0.0)
IDS = [587722981741363294, 587722981741363323, 587722981741559888, 587722981742084253,
       587722981742280846]


def hart16_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, len(IDS))
    return pd.DataFrame({
        "dr7objid": IDS, "ra": rng.uniform(0, 360, len(IDS)), "dec": rng.uniform(-10, 60, len(IDS)),
        "gz2_class": ["Ei", "Sc", "Er", "SBb", "Ec"], "total_classifications": 44,
        "t01_smooth_or_features_a01_smooth_count": np.rint(44 * p).astype(int),
        "t01_smooth_or_features_a01_smooth_debiased": p,
        "t01_smooth_or_features_a02_features_or_disk_debiased": 1 - p})


def serve_gz2(server) -> dict:
    """Hart16 csv.gz, mapping (IDS[4] unmapped), zip with IDS[2] corrupt and IDS[3] absent."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as fh:
        fh.write(hart16_frame().to_csv(index=False).encode())
    server.files["/gz2_hart16.csv.gz"] = buf.getvalue()
    assets = {oid: 100 + k for k, oid in enumerate(IDS[:4])}
    mapping = pd.DataFrame({"objid": list(assets), "sample": "original",
                            "asset_id": list(assets.values())})
    server.files["/zenodo/gz2_filename_mapping.csv"] = mapping.to_csv(index=False).encode()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("images/", b"")
        zf.writestr(f"images/{assets[IDS[0]]}.jpg", jpeg_bytes(0))
        zf.writestr(f"images/{assets[IDS[1]]}.jpg", jpeg_bytes(1))
        zf.writestr(f"images/{assets[IDS[2]]}.jpg", b"\xff\xd8 not really a jpeg")
    server.files["/zenodo/images_gz2.zip"] = zbuf.getvalue()
    return assets


def run_prepare(server, cfg):
    return gz2.prepare_gz2(cfg, hart16_url=server.url + "/gz2_hart16.csv.gz",
                           zenodo_url=server.url + "/zenodo", policy=FAST, progress=False)


def test_prepare_gz2_writes_contract_layout_and_lists_drops(fixture_server, real_cfg):
    serve_gz2(fixture_server)
    fixture_server.faults["/zenodo/images_gz2.zip"] = ["truncate", "500"]  # retried, then whole
    pd.DataFrame({"dr7objid": IDS[:2], "z": [0.03, 0.05], "logmstar": [10.1, 10.9]}).to_csv(
        real_cfg.paths.raw / "catalogs" / "gz2_physical.csv", index=False)
    pd.DataFrame({"dr7objid": [IDS[0], 123]}).to_csv(real_cfg.paths.raw / "catalogs" /
                                                     "detg_kaviraj12.csv", index=False)
    res = run_prepare(fixture_server, real_cfg)
    out = real_cfg.data_dir("interim", "gz2")
    table = pd.read_csv(out / "gz2_hart16.csv.gz")
    assert list(table["dr7objid"]) == IDS[:2] and res["n_kept"] == 2
    for oid, seed in zip(IDS[:2], (0, 1)):
        assert (out / "images" / f"{oid}.jpg").read_bytes() == jpeg_bytes(seed)  # copied as is
        assert Image.open(out / "images" / f"{oid}.jpg").mode == "RGB"
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i}.jpg" for i in IDS[:2]]
    drops = pd.read_csv(out / "fetch_drops.csv").set_index("dr7objid")["reason"]
    assert drops[IDS[2]].startswith("corrupt image")
    assert "not in images_gz2.zip" in drops[IDS[3]]
    assert drops[IDS[4]] == "no image in the filename mapping"
    np.testing.assert_allclose(table["z"], [0.03, 0.05])
    assert table["rmag"].isna().all() and "absent columns" in res["physical"]
    assert (table.columns[:3] == ["dr7objid", "ra", "dec"]).all()
    known = pd.read_csv(out / "detg_known.csv")  # same file the mock writes
    assert list(known.columns) == ["dr7objid", "ra", "dec", "z"]
    assert known["dr7objid"].tolist() == [IDS[0]] and known["z"].tolist() == [0.03]
    assert "2 listed, 1 found in the GZ2 catalog, 1 in the sample" in res["detg"]
    archive = real_cfg.paths.raw / "gz2" / "images_gz2.zip"
    assert sha256_of(archive) in (archive.parent / "images_gz2.zip.sha256").read_text()
    assert len(fixture_server.requests_for("/zenodo/images_gz2.zip")) == 3
    n_before = len(fixture_server.log)
    run_prepare(fixture_server, real_cfg)  # rerun: everything is cached
    assert len(fixture_server.log) == n_before


def test_profile_sample_size_keeps_known_detgs_found_by_position(fixture_server, real_cfg):
    serve_gz2(fixture_server)
    h = hart16_frame()
    pd.DataFrame({"ra": [h.ra[1] + 0.5 / 3600], "dec": [h.dec[1]]}).to_csv(
        real_cfg.paths.raw / "catalogs" / "detg_kaviraj12.csv", index=False)
    real_cfg = real_cfg.with_overrides(survey_b={"n_galaxies": 1})
    res = run_prepare(fixture_server, real_cfg)
    out = real_cfg.data_dir("interim", "gz2")
    table = pd.read_csv(out / "gz2_hart16.csv.gz")
    assert table["dr7objid"].tolist() == [IDS[1]]  # the known D-ETG (0.5" away) fills the sample
    assert pd.read_csv(out / "detg_known.csv")["dr7objid"].tolist() == [IDS[1]]
    assert res["n_detg_known"] == 1 and "no gz2_physical table" in res["physical"]
    assert res["n_dropped"] == 0  # unmapped galaxies outside the sample are not drops of this run
    real_cfg = real_cfg.with_overrides(survey_b={"n_galaxies": 4})
    res = run_prepare(fixture_server, real_cfg)
    assert res["n_kept"] + res["n_dropped"] == 4 and len(res["drops"]) == res["n_dropped"]


def test_offline_gz2_stops_with_one_message_naming_the_file(real_cfg, closed_port_url):
    with pytest.raises(NoNetworkError) as err:
        gz2.prepare_gz2(real_cfg, hart16_url=closed_port_url + "/gz2_hart16.csv.gz",
                        zenodo_url=closed_port_url, policy=FAST, progress=False)
    msg = str(err.value)
    assert "cannot reach 127.0.0.1" in msg and "no network" in msg
    assert str(real_cfg.paths.raw / "gz2" / "gz2_hart16.csv.gz") in msg
    assert not (real_cfg.paths.raw / "gz2" / "gz2_hart16.csv.gz").exists()


def test_kaggle_form_becomes_hart16_columns(tmp_path):
    row = {"GalaxyID": 100008, "Class1.1": 0.6, "Class1.2": 0.4, "Class1.3": 0.0,
           "Class2.1": 0.1, "Class2.2": 0.3, "Class6.1": 0.2, "Class6.2": 0.8}
    for n, (_, answers) in enumerate(gz2.kaggle_tasks(), start=1):
        for m in range(1, len(answers) + 1):
            row.setdefault(f"Class{n}.{m}", 0.0)
    row.update({"Class7.1": 0.3, "Class7.2": 0.3, "Class8.7": 0.1, "Class8.1": 0.1})
    pd.DataFrame([row]).to_csv(tmp_path / gz2.KAGGLE_CSV, index=False)
    df = gz2.read_kaggle_solutions(tmp_path / gz2.KAGGLE_CSV, n_classifications=40)
    assert df["dr7objid"].tolist() == [100008]
    assert df["t02_edgeon_a04_yes_fraction"][0] == pytest.approx(0.25)  # 0.1 / (0.1 + 0.3)
    assert df["t08_odd_feature_a38_dust_lane_debiased"][0] == pytest.approx(0.5)
    assert df["t07_rounded_a16_completely_round_count"][0] == 12  # 0.5 of 0.6·40 reaching t07
    assert df["t01_smooth_or_features_a01_smooth_count"][0] == 24
    assert df["t03_bar_a06_bar_fraction"][0] == 0.0  # task never reached: zeros, not NaN
    from raregal.core import gz2_schema  # the label code accepts the converted table as it is
    kept, drops = gz2_schema.validate_catalog(df)
    assert len(kept) == 1 and drops.empty
    with pytest.raises(CatalogError, match="missing Kaggle columns"):
        pd.DataFrame([{"GalaxyID": 1, "Class1.1": 1.0}]).to_csv(tmp_path / "bad.csv", index=False)
        gz2.read_kaggle_solutions(tmp_path / "bad.csv")


def test_kaggle_inputs_take_the_place_of_hart16(real_cfg):
    raw = real_cfg.paths.raw / "gz2"
    (raw / gz2.KAGGLE_IMAGES).mkdir(parents=True)
    row = {f"Class{n}.{m}": 0.0 for n, (_, a) in enumerate(gz2.kaggle_tasks(), 1)
           for m in range(1, len(a) + 1)}
    rows = [{"GalaxyID": g, **row, "Class1.1": 1.0} for g in (11, 12)]
    pd.DataFrame(rows).to_csv(raw / gz2.KAGGLE_CSV, index=False)
    (raw / gz2.KAGGLE_IMAGES / "11.jpg").write_bytes(jpeg_bytes(3))
    res = gz2.prepare_gz2(real_cfg, hart16_url="http://127.0.0.1:9/never", progress=False)
    assert res["form"] == "kaggle" and res["n_kept"] == 1
    out = real_cfg.data_dir("interim", "gz2")
    assert (out / "images" / "11.jpg").exists() and not (out / "images" / "12.jpg").exists()
    assert not (out / "detg_known.csv").exists() and "no D-ETG list" in res["detg"]


def test_hart16_schema_is_checked(tmp_path):
    pd.DataFrame({"dr7objid": [1], "ra": [0.0]}).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(CatalogError, match=r"missing columns \['dec', 't01_smooth"):
        gz2.read_hart16(tmp_path / "h.csv")
    with pytest.raises(CatalogError, match="download https://gz2hart"):
        gz2.read_hart16(tmp_path / "absent.csv.gz")


def test_real_layout_is_read_by_the_label_and_image_code(fixture_server, real_cfg):
    """What 01_fetch does next with source=real: gz2_labels and images accept prepare_gz2's output."""
    from raregal.core import gz2_schema, images

    serve_gz2(fixture_server)
    rng = np.random.default_rng(2)
    h, votes = hart16_frame(), {}
    for stem in gz2_schema.TREE.stem:
        frac = rng.uniform(0, 1, len(h))
        votes[f"{stem}_count"] = rng.integers(0, 40, len(h))
        for kind in ("weight", "fraction", "weighted_fraction", "debiased"):
            votes[f"{stem}_{kind}"] = frac
        votes[f"{stem}_flag"] = 0
    h = pd.concat([h[["dr7objid", "ra", "dec", "gz2_class"]], pd.DataFrame(votes)], axis=1)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as fh:
        fh.write(h.to_csv(index=False).encode())
    fixture_server.files["/gz2_hart16.csv.gz"] = buf.getvalue()
    run_prepare(fixture_server, real_cfg)
    out = real_cfg.data_dir("interim", "gz2")
    kept, drops = gz2_schema.validate_catalog(gz2_schema.read_catalog(out))
    assert kept["dr7objid"].tolist() == IDS[:2] and drops.empty
    assert images.find_missing(out / "images", kept["dr7objid"]).empty
    batch = images.read_images(out / "images", kept["dr7objid"].tolist(), size=16)
    assert batch.images.shape == (2, 16, 16, 3) and batch.drops.empty
