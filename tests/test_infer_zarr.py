"""The survey tool reads Zarr stores (zarr-python 3) as it reads HDF5: the same cutouts give the same
catalog, and a damaged store — a chunk file gone, chunk bytes cut short, a broken ``zarr.json`` —
loses only the galaxies it touches, each a listed drop with its reason, never a crash and never a
galaxy read as Zarr's fill value (id 0, blank cutout).

The tiny mock survey, the bundle and the in-process Dask cluster are those of ``tests/test_infer.py``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import zarr
from test_infer import SHARD, bundle_dir, client, survey  # noqa: F401  (fixtures)

from raregal.paper_a.infer import engine
from raregal.paper_a.infer.shards import discover

CHUNK = 8  # cutouts per stored Zarr chunk (SHARD = 20 rows per task, so tasks straddle chunks)


def write_zarr(path, images: np.ndarray, ids: np.ndarray, chunk: int = CHUNK, shards: int | None = None):
    """A Zarr (format 3) store with arrays ``images`` (N, 3, 128, 128) float32 and ``id`` int64."""
    group = zarr.open_group(path, mode="w")
    group.create_array("images", shape=images.shape, dtype="float32", chunks=(chunk, *images.shape[1:]),
                       shards=None if shards is None else (shards, *images.shape[1:]))[:] = images
    group.create_array("id", shape=ids.shape, dtype="int64", chunks=(chunk,))[:] = ids
    return path


def _run(source, bundle, out, dask_client):
    summary = engine.run_inference(source, bundle, out, client=dask_client, shard_size=SHARD, progress=False)
    catalog = pd.read_parquet(out / "catalog").sort_values("id").reset_index(drop=True)
    return summary, catalog, pd.read_parquet(out / "drops.parquet")


def _by_id(drops: pd.DataFrame) -> dict:
    known = drops[drops["id"].notna()]
    return dict(zip(known["id"].astype(int), known["reason"]))


def test_zarr_stores_give_the_same_catalog_as_the_hdf5_file(survey, bundle_dir, client, tmp_path):  # noqa: F811
    """Two stores in a folder (one chunked, one sharded, 31 + 29 rows) against the one HDF5 file."""
    images, ids = survey["images"], survey["ids"]
    folder = tmp_path / "zarr"
    folder.mkdir()
    write_zarr(folder / "a.zarr", images[:31], ids[:31])
    write_zarr(folder / "b.zarr", images[31:], ids[31:], chunk=4, shards=8)
    shards, _ = discover(folder, SHARD)
    assert [s.kind for s in shards] == ["zarr"] * 4 and sum(s.n_expected for s in shards) == len(ids)

    _, from_h5, h5_drops = _run(survey["h5"], bundle_dir, tmp_path / "h5", client)
    summary, from_zarr, zarr_drops = _run(folder, bundle_dir, tmp_path / "out", client)
    assert summary.failed_shards == [] and summary.n_galaxies == len(from_h5)
    pd.testing.assert_frame_equal(from_zarr, from_h5)
    assert _by_id(zarr_drops) == _by_id(h5_drops) and len(zarr_drops) == len(h5_drops)


def test_absent_and_damaged_zarr_chunks_drop_exactly_their_galaxies(survey, bundle_dir, client, tmp_path):  # noqa: F811
    images, ids = survey["images"], survey["ids"]
    store = write_zarr(tmp_path / "survey.zarr", images, ids)
    (store / "images" / "c" / "1" / "0" / "0" / "0").unlink()  # rows 8-15: cutouts read as zeros
    (store / "id" / "c" / "3").unlink()  # rows 24-31: ids read as 0
    chunk = store / "images" / "c" / "5" / "0" / "0" / "0"  # rows 40-47: bytes cut short
    chunk.write_bytes(chunk.read_bytes()[:50])

    summary, catalog, drops = _run(store, bundle_dir, tmp_path / "out", client)
    assert summary.failed_shards == []
    assert summary.n_galaxies + summary.n_dropped == len(ids)  # every galaxy is catalogued or dropped
    assert set(catalog["id"]) <= set(ids) and 0 not in set(catalog["id"])
    unreadable = drops[drops["reason"] == "unreadable"]
    assert set(unreadable["id"].dropna().astype(int)) == set(ids[8:16]) | set(ids[40:48])
    assert unreadable["id"].isna().sum() == 8  # the galaxies of the lost id chunk: counted, ids unknown
    assert unreadable["detail"].str.contains("images/c/1/0/0/0").any()
    assert unreadable["detail"].str.contains("id/c/3").any()
    assert not set(catalog["id"]) & (set(ids[8:16]) | set(ids[24:32]) | set(ids[40:48]))


def test_broken_zarr_metadata_is_a_listed_drop_and_the_other_stores_go_on(survey, bundle_dir, client, tmp_path):  # noqa: F811
    images, ids = survey["images"], survey["ids"]
    folder = tmp_path / "in"
    folder.mkdir()
    write_zarr(folder / "a_good.zarr", images[:20], ids[:20])
    write_zarr(folder / "b_root.zarr", images[20:40], ids[20:40])
    (folder / "b_root.zarr" / "zarr.json").write_text("{not json")
    write_zarr(folder / "c_images.zarr", images[40:], ids[40:])
    (folder / "c_images.zarr" / "images" / "zarr.json").write_text('{"zarr_format": 3}')

    summary, catalog, drops = _run(folder, bundle_dir, tmp_path / "out", client)
    assert summary.failed_shards == [] and set(catalog["id"]) <= set(ids[:20])
    shard_level = drops[drops["reason"] == "unreadable_shard"]
    assert list(shard_level["shard"]) == ["b_root-unread"]
    assert "b_root.zarr" in shard_level["detail"].iloc[0]
    images_lost = drops[drops["shard"].str.startswith("c_images")]
    assert (images_lost["reason"] == "unreadable").all() and set(images_lost["id"].astype(int)) == set(ids[40:])
    assert images_lost["detail"].str.contains("images").all()


@pytest.mark.parametrize("absent", [[], [1], [0, 2]])
def test_zarr_absent_rows_maps_chunk_files_to_rows(tmp_path, absent):
    from raregal.paper_a.infer.shards import zarr_absent_rows

    store = write_zarr(tmp_path / "s.zarr", np.ones((20, 3, 4, 4), np.float32), np.arange(20), chunk=8)
    for k in absent:
        (store / "images" / "c" / str(k) / "0" / "0" / "0").unlink()
    array = zarr.open_group(store, mode="r")["images"]
    lost, keys = zarr_absent_rows(str(store), array, 5, 18)
    expected = np.zeros(20, bool)
    for k in absent:
        expected[8 * k:8 * k + 8] = True
    np.testing.assert_array_equal(lost, expected[5:18])
    assert keys == [f"images/c/{k}/0/0/0" for k in absent]
