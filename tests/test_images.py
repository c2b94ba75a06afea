"""Folder-of-images reader/writer: round trips, resizing, cropping, and counted drops."""
import numpy as np
import pytest
import torch

from raregal.core import images as im


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8)


def test_png_round_trip_is_exact_and_keeps_order(tmp_path, arrays):
    ids = [30, 10, 20, 40, 50]
    im.write_images(tmp_path, ids, arrays, ext=".png")
    batch = im.read_images(tmp_path, [20, 10, 30])
    np.testing.assert_array_equal(batch.images, arrays[[2, 1, 0]])
    assert batch.ids.tolist() == [20, 10, 30] and batch.drops.empty
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_jpeg_is_close_and_resized_crop_is_the_centre(tmp_path):
    img = np.zeros((1, 40, 40, 3), np.uint8)
    img[0, 10:30, 10:30] = 200  # a bright square filling the central half
    im.write_images(tmp_path, [7], img, quality=95)
    full = im.read_images(tmp_path, [7]).images[0].astype(int)
    assert np.abs(full - img[0]).mean() < 3
    small = im.read_images(tmp_path, [7], size=10).images
    assert small.shape == (1, 10, 10, 3)
    crop = im.read_images(tmp_path, [7], size=8, crop=0.5).images[0]
    assert crop.min() > 150  # the centre crop is all square


def test_missing_and_unreadable_files_are_counted_not_skipped(tmp_path, arrays):
    im.write_images(tmp_path, [1, 2], arrays[:2])
    (tmp_path / "3.jpg").write_bytes(b"not a jpeg at all")
    batch = im.read_images(tmp_path, [1, 3, 2, 4], size=8)
    assert batch.ids.tolist() == [1, 2] and batch.images.shape == (2, 8, 8, 3)
    reasons = dict(zip(batch.drops.id, batch.drops.reason))
    assert reasons[4] == "missing file" and reasons[3].startswith("unreadable")
    im.write_images(tmp_path / "png", [5], arrays[:1], ext=".png")
    (tmp_path / "png" / "5.png").rename(tmp_path / "5.jpg")  # a PNG under a JPEG name
    assert im.read_images(tmp_path, [5]).drops.reason.tolist() == ["not a JPEG (PNG)"]
    missing = im.find_missing(tmp_path, [1, 2, 3, 4, 5])
    assert missing.id.tolist() == [4] and missing.reason[0].startswith("no image file")


def test_mixed_sizes_need_a_size(tmp_path, arrays):
    im.write_images(tmp_path, [1], arrays[:1], ext=".png")
    im.write_images(tmp_path, [2], np.zeros((1, 8, 8, 3), np.uint8), ext=".png")
    batch = im.read_images(tmp_path, [1, 2])
    assert batch.ids.tolist() == [1] and "pass size=" in batch.drops.reason[0]
    assert im.read_images(tmp_path, [1, 2], size=12).images.shape == (2, 12, 12, 3)


def test_batches_tensor_and_bad_arguments(tmp_path, arrays):
    im.write_images(tmp_path, range(5), arrays, ext=".png")
    batches = list(im.iter_image_batches(tmp_path, range(5), batch_size=2, size=16))
    assert [len(b.ids) for b in batches] == [2, 2, 1]
    t = im.to_tensor(batches[0].images)
    assert t.shape == (2, 3, 16, 16) and t.dtype == torch.float32
    assert float(t.max()) <= 1.0 and float(t.min()) >= 0.0
    assert torch.allclose(t[0, :, 3, 4] * 255, torch.tensor(arrays[0, 3, 4], dtype=torch.float32))
    with pytest.raises(ValueError, match="crop"):
        im.read_images(tmp_path, [0], crop=0.0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        im.read_images(tmp_path / "nope", [0])
    with pytest.raises(ValueError, match="ids for"):
        im.write_images(tmp_path, [1, 2], arrays[:1])
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        im.to_tensor(arrays[0])
    empty = im.read_images(tmp_path, [], size=4)
    assert empty.images.shape == (0, 4, 4, 3) and empty.drops.empty
