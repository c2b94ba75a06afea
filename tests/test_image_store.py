"""The GZ2 image store: the profile's field of view, the same pixels as the folder reader, drops, rebuilds."""
import io
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from raregal.core import config, gz2_schema, image_store, images

GZ2_SIZE = 424  # px of a GZ2 JPEG, spanning 8.48 R90 (Willett et al. 2013; Hart et al. 2016)


def disc_image(size: int, radius: float) -> np.ndarray:
    """A flat bright disc of ``radius`` px centred in a dark ``size`` px RGB image."""
    yy, xx = np.mgrid[:size, :size] + 0.5
    inside = np.hypot(xx - size / 2, yy - size / 2) <= radius
    img = np.zeros((size, size, 3), np.uint8)
    img[inside] = 220
    return img


def radius_px(img: np.ndarray) -> float:
    """Radius of the bright disc from its area above half brightness."""
    return float(np.sqrt((img.mean(axis=-1) > 110).sum() / np.pi))


def test_field_crop_follows_the_profile_and_refuses_a_wider_field():
    assert image_store.field_crop("mock", 4.24) == 1.0  # the mock draws at the profile's field
    assert image_store.field_crop("real", 4.24) == pytest.approx(0.5)
    assert image_store.field_crop("real", 8.48) == 1.0
    with pytest.raises(ValueError, match=r"wider than a GZ2 image \(8.48 R90\)"):
        image_store.field_crop("real", 10.0)
    with pytest.raises(ValueError, match="fov_r90 must be > 0"):
        image_store.field_crop("real", 0.0)


@pytest.mark.parametrize("fov_r90, size", [(4.24, 64), (8.48, 64), (6.0, 48)])
def test_a_real_galaxy_is_read_at_the_size_the_mock_draws(tmp_path, fov_r90, size):
    # A GZ2 JPEG spans 8.48 R90 over 424 px, so R90 is 50 px; the mock draws R90 as size / fov_r90 px
    # (raregal.mock.gz2.rendering.batch_geometry). After reading, the real one must match.
    r90_gz2 = GZ2_SIZE / image_store.GZ2_FOV_R90
    images.write_images(tmp_path / "img", [1], disc_image(GZ2_SIZE, r90_gz2)[None], quality=95)
    store = image_store.ImageStore(tmp_path / "img", [1], tmp_path / "store",
                                   image_store.field_crop("real", fov_r90), size, fov_r90, progress=False)
    got = store.read([1]).images[0]
    assert got.shape == (size, size, 3)
    assert radius_px(got) == pytest.approx(size / fov_r90, abs=0.6)


@pytest.fixture
def folder(tmp_path):
    """Five 40 px JPEGs (ids 10..14), one corrupt (15), one PNG saved as .jpg (16); 17 has no file."""
    rng = np.random.default_rng(0)
    arrays = rng.integers(0, 256, size=(5, 40, 40, 3), dtype=np.uint8)
    d = tmp_path / "img"
    images.write_images(d, range(10, 15), arrays)
    (d / "15.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    buf = io.BytesIO()
    Image.fromarray(arrays[0]).save(buf, format="PNG")
    (d / "16.jpg").write_bytes(buf.getvalue())
    return d


def test_store_gives_the_folder_readers_pixels_order_and_drops(tmp_path, folder):
    ids = list(range(10, 18))
    store = image_store.ImageStore(folder, ids, tmp_path / "store", crop=0.5, image_size=16,
                                   fov_r90=4.24, progress=False)
    want = [13, 17, 10, 16, 12, 15, 99]
    got = store.read(want, size=12)
    ref = images.read_images(folder, want, size=12, crop=0.5)
    np.testing.assert_array_equal(got.images, ref.images)
    assert got.ids.tolist() == ref.ids.tolist() == [13, 10, 12]
    reasons = dict(zip(got.drops.id, got.drops.reason))
    assert reasons == {17: "missing file", 16: "not a JPEG (PNG)", 15: "unreadable: UnidentifiedImageError",
                       99: image_store.NOT_IN_CATALOG}
    assert dict(zip(ref.drops.id, ref.drops.reason)) | {99: image_store.NOT_IN_CATALOG} == reasons
    assert store.path(12).name == "images-12px-fov4.24.h5" and store.path().name == "images-16px-fov4.24.h5"
    assert sorted(store.drops(12).id) == [15, 16, 17]
    assert not [p for p in (tmp_path / "store").iterdir() if p.name.startswith(".")]  # atomic write
    batches = list(store.iter_batches(want, size=12, batch_size=3))
    assert [b.ids.tolist() for b in batches] == [[13, 10], [12], []]
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), got.images)
    unusable = store.unusable([10, 15, 16, 17])  # what the label step leaves out and lists
    assert unusable["id"].dtype == np.int64  # dr7objids (~5.9e17) do not survive a float column
    assert dict(zip(unusable.id, unusable.reason)) == {17: "no image file (.jpg)", 16: "not a JPEG (PNG)",
                                                      15: "unreadable: UnidentifiedImageError"}
    dup = store.read([12, 12], size=12)
    np.testing.assert_array_equal(dup.images[0], dup.images[1])


def test_store_is_built_once_and_rebuilt_when_an_image_or_the_catalog_changes(tmp_path, folder):
    def make(ids):
        return image_store.ImageStore(folder, ids, tmp_path / "store", image_size=8, progress=False)

    first = make(range(10, 15)).read([11])
    path = make(range(10, 15)).path()
    built = path.stat().st_mtime_ns
    again = make(range(10, 15)).read([11])
    assert path.stat().st_mtime_ns == built  # same catalog and files: read, not rebuilt
    np.testing.assert_array_equal(first.images, again.images)
    new = np.full((1, 40, 40, 3), 200, np.uint8)
    images.write_images(folder, [11], new, ext=".jpg")
    os.utime(folder / "11.jpg", ns=(built + 10**9, built + 10**9))  # a changed file, whatever the clock
    changed = make(range(10, 15)).read([11]).images[0]
    assert abs(int(changed.mean()) - 200) < 3  # the new pixels, not the stored ones
    assert make(range(10, 13)).read([14]).drops.reason.tolist() == [image_store.NOT_IN_CATALOG]
    with pytest.raises(ValueError, match="unique"):
        make([10, 10])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        image_store.ImageStore(tmp_path / "nope", [1], tmp_path / "s", progress=False).read([1])


def test_open_store_reads_the_runs_catalog_at_its_field(tmp_path, monkeypatch):
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    cfg = config.setup("smoke", "real", 0)
    gz2_dir = cfg.data_dir("interim", "gz2")
    images.write_images(gz2_dir / gz2_schema.IMAGES_DIR, [5, 6], np.stack([disc_image(80, 9.4)] * 2))
    pd.DataFrame({"dr7objid": [5, 6, 6]}).to_csv(gz2_dir / gz2_schema.CATALOG_FILE, index=False)
    store = image_store.open_store(cfg, progress=False)
    assert store.crop == pytest.approx(cfg.survey_b.fov_r90 / 8.48)
    assert store.ids.tolist() == [5, 6]  # a duplicated catalog row is stored once
    batch = image_store.read_store(cfg, [6, 5])
    assert batch.images.shape == (2, cfg.survey_b.image_size, cfg.survey_b.image_size, 3)
    assert store.path().parent == cfg.data_dir("processed", "gz2")
