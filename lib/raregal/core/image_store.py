"""The survey's GZ2 images at the profile's field of view, decoded once per size into HDF5.

Why: every paper-B notebook (tags gallery, diffusion, SimCLR, metrics, classifiers, search) reads the
same images. Decoding, cropping and resizing the JPEGs again in each one cost minutes on 1,000 real
galaxies and would cost hours on GZ2's 240k; here each image is decoded once per (size, field) into
``data/processed/<source>-<profile>/gz2/images-<size>px-fov<field>.h5`` and every notebook reads arrays.

Field of view: GZ2 JPEGs span 8.48 R90 (424 px × 0.02 petroR90 per px; Willett et al. 2013, Hart et
al. 2016), the mock draws ``survey_b.fov_r90`` R90 directly. :func:`field_crop` is the one place that
says how much of a real image to keep so a real galaxy covers as many pixels as a mock one.

- :func:`field_crop` — crop fraction for (source, profile field).
- :func:`build_store` — decode + crop + resize ids into one HDF5 file (tqdm bar, atomic write).
- :class:`ImageStore` — reads ids at a size (``read``, ``iter_batches``), building or rebuilding the
  file for that size when it is missing or the catalog or an image file changed.
- :func:`open_store` — the run's store (``cfg``: catalog ids, image folder, field), and
  :func:`read_store` for a one-off read.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from raregal.core import gz2_schema
from raregal.core.images import EXTENSIONS, ImageBatch, find_missing, read_images
from raregal.core.outputs import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

GZ2_FOV_R90 = 8.48  # side of a GZ2 JPEG in units of petroR90 (424 px × 0.02 R90/px; Hart et al. 2016)
STORE_VERSION = 1  # bump when the stored layout or the decoding changes, so old stores are rebuilt
NOT_IN_CATALOG = "not in the catalog"
_CHUNK_BYTES = 1 << 20  # ~1 MB HDF5 chunks: a few galaxies per chunk at 424 px, many at 64 px


def field_crop(source: str, fov_r90: float) -> float:
    """Fraction of each image side to keep so the image spans ``fov_r90`` × R90.

    Parameters
    ----------
    source : str
        ``mock`` (drawn at the profile's field already: 1.0) or ``real`` (GZ2 JPEGs span 8.48 R90).
    fov_r90 : float
        The profile's field of view (``survey_b.fov_r90``) in units of R90.

    Returns
    -------
    float
        Crop fraction in (0, 1], e.g. 0.5 for the default profile's 4.24 R90 on real GZ2 images.
    """
    if fov_r90 <= 0:
        raise ValueError(f"survey_b.fov_r90 must be > 0 R90, got {fov_r90}")
    if source == "mock":
        return 1.0
    if source != "real":
        raise ValueError(f"unknown source {source!r}; use mock or real")
    if fov_r90 > GZ2_FOV_R90 + 1e-9:
        raise ValueError(f"survey_b.fov_r90 = {fov_r90} R90 is wider than a GZ2 image "
                         f"({GZ2_FOV_R90} R90); a real image cannot be widened")
    return min(1.0, fov_r90 / GZ2_FOV_R90)


def store_name(size: int, fov_r90: float) -> str:
    """``images-<size>px-fov<field>.h5``: one file per (size, field of view in R90)."""
    return f"images-{int(size)}px-fov{fov_r90:g}.h5"


def _files(image_dir: Path) -> dict[str, os.DirEntry]:
    return {e.name: e for e in os.scandir(image_dir)} if image_dir.is_dir() else {}


def fingerprint(image_dir: Path | str, ids: Sequence[int], size: int, crop: float) -> str:
    """What a store's content depends on: layout version, size, crop, the ids in order, and each
    image file's name, byte size and modification time (one directory listing, no decoding)."""
    h = hashlib.sha1(f"v{STORE_VERSION} size={int(size)} crop={crop:.6f}".encode())
    files = _files(Path(image_dir))
    ids = np.asarray(ids, np.int64)
    h.update(ids.tobytes())
    for i in ids:
        entry = next((files[n] for n in (f"{i}{e}" for e in EXTENSIONS) if n in files), None)
        if entry is None:
            h.update(b"-")
        else:
            st = entry.stat()
            h.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def build_store(image_dir: Path | str, ids: Sequence[int], path: Path | str, size: int,
                crop: float = 1.0, batch_size: int = 256, progress: bool = True,
                key: str | None = None) -> Path:
    """Decode, crop and resize every id's image once into ``path`` (HDF5, written atomically).

    Datasets: ``images`` uint8 (N_read, size, size, 3), ``id`` int64 (catalog order, drops left
    out), ``drop_id`` / ``drop_reason`` (every id not read, with the reason :func:`read_images`
    gives); attributes ``size``, ``crop``, ``n_catalog`` and ``fingerprint`` (:func:`fingerprint`).
    Pixels are exactly those of ``read_images(image_dir, ids, size, crop)``.
    """
    import h5py

    ids = [int(i) for i in ids]
    path = Path(path)
    key = key or fingerprint(image_dir, ids, size, crop)
    per_chunk = max(1, min(len(ids), _CHUNK_BYTES // (size * size * 3)))
    drops = []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("images", shape=(0, size, size, 3), maxshape=(None, size, size, 3),
                              dtype=np.uint8, chunks=(per_chunk, size, size, 3))  # lzf saved 2 %: noisy skies
        kept = []
        bar = tqdm(total=len(ids), desc=f"image store {path.name}", unit="img", disable=not progress)
        for start in range(0, len(ids), batch_size):
            batch = read_images(image_dir, ids[start:start + batch_size], size=size, crop=crop)
            n = len(ds)
            ds.resize(n + len(batch.ids), axis=0)
            ds[n:] = batch.images
            kept.append(np.asarray(batch.ids, np.int64))
            drops.append(batch.drops)
            bar.update(min(batch_size, len(ids) - start))
        bar.close()
        drops = pd.concat(drops, ignore_index=True) if drops else pd.DataFrame(columns=["id", "reason"])
        f["id"] = np.concatenate(kept) if kept else np.zeros(0, np.int64)
        f["drop_id"] = drops["id"].to_numpy(np.int64)
        f["drop_reason"] = drops["reason"].astype(str).to_numpy(dtype=object).astype(h5py.string_dtype())
        f.attrs.update(size=int(size), crop=float(crop), n_catalog=len(ids), fingerprint=key)
    return path


def _take(ds, rows: np.ndarray) -> np.ndarray:
    """``ds[rows]`` for any row order (h5py wants increasing indices): one block read when dense."""
    if len(rows) == 0:
        return np.zeros((0, *ds.shape[1:]), ds.dtype)
    uniq = np.unique(rows)
    if uniq[-1] - uniq[0] + 1 <= 4 * len(uniq):
        block = ds[uniq[0]:uniq[-1] + 1][uniq - uniq[0]]
    else:
        block = ds[uniq]
    return block[np.searchsorted(uniq, rows)]


class ImageStore:
    """The catalog's images at the profile's field, read by id at any size from per-size HDF5 files.

    Parameters
    ----------
    image_dir : path
        ``<id>.jpg`` files (mock or real, CONTRIBUTING.md layout).
    ids : sequence of int
        The catalog's ids (``dr7objid``), in catalog order: the store holds these and only these.
    store_dir : path
        Where the ``images-<size>px-fov<field>.h5`` files live.
    crop : float
        Fraction of each side kept (:func:`field_crop`).
    image_size : int
        The size a read without ``size`` gives (the profile's ``survey_b.image_size``).
    fov_r90 : float
        The field in R90 (names the files).
    """

    def __init__(self, image_dir: Path | str, ids: Sequence[int], store_dir: Path | str, crop: float = 1.0,
                 image_size: int = 64, fov_r90: float = GZ2_FOV_R90, progress: bool = True):
        self.image_dir, self.store_dir = Path(image_dir), Path(store_dir)
        self.ids = np.asarray(ids, np.int64)
        if len(np.unique(self.ids)) != len(self.ids):
            raise ValueError("the image store's catalog ids must be unique")
        self.crop, self.image_size, self.fov_r90, self.progress = crop, int(image_size), fov_r90, progress
        self._index: dict[int, tuple[Path, pd.Index, pd.Series, str]] = {}

    def path(self, size: int | None = None) -> Path:
        return self.store_dir / store_name(size or self.image_size, self.fov_r90)

    def fingerprint(self, size: int | None = None) -> str:
        """The fingerprint of the store at ``size`` (built if needed): changes when its pixels can."""
        return self._open(size or self.image_size)[3]

    def _open(self, size: int) -> tuple[Path, pd.Index, pd.Series, str]:
        """Build or rebuild the file for ``size`` when missing or stale; cache its id index and drops."""
        if size in self._index:
            return self._index[size]
        import h5py

        if size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"image folder {self.image_dir} does not exist")
        path, key = self.path(size), fingerprint(self.image_dir, self.ids, size, self.crop)
        stale = True
        if path.exists():
            with h5py.File(path, "r") as f:
                stale = f.attrs.get("fingerprint") != key
        if stale:
            build_store(self.image_dir, self.ids, path, size, self.crop, progress=self.progress, key=key)
        with h5py.File(path, "r") as f:
            index = pd.Index(f["id"][:])
            reasons = pd.Series([r.decode() if isinstance(r, bytes) else r for r in f["drop_reason"][:]],
                                index=f["drop_id"][:], dtype=object)
        self._index[size] = (path, index, reasons, key)
        return self._index[size]

    def drops(self, size: int | None = None) -> pd.DataFrame:
        """Every catalog id the store at ``size`` could not read: ``id``, ``reason``."""
        _, _, reasons, _ = self._open(size or self.image_size)
        return pd.DataFrame({"id": reasons.index.to_numpy(np.int64), "reason": reasons.to_numpy()})

    def unusable(self, ids: Sequence[int]) -> pd.DataFrame:
        """Drop table (id, reason) of ``ids`` with no usable image: no ``<id>.jpg`` (reason as
        :func:`raregal.core.images.find_missing` gives it), or a file the store could not read at
        the profile's size (corrupt, not a JPEG) — what the label step leaves out and lists."""
        missing = find_missing(self.image_dir, ids).astype({"id": "int64", "reason": object})
        bad = self.drops().astype({"reason": object})
        bad = bad[np.isin(bad["id"], np.asarray(list(ids), np.int64)) & ~bad["id"].isin(missing["id"])]
        return pd.concat([missing, bad], ignore_index=True)  # ids stay int64: dr7objids exceed float precision

    def read(self, ids: Sequence[int], size: int | None = None) -> ImageBatch:
        """uint8 (N, size, size, 3) images of ``ids`` in their order (default size: ``image_size``),
        the ids read, and a drop table (id, reason) for the others — as :func:`read_images` gives."""
        import h5py

        path, index, reasons, _ = self._open(size or self.image_size)
        want = np.asarray(list(ids), np.int64)
        rows = index.get_indexer(want)
        ok = rows >= 0
        drops = pd.DataFrame({"id": want[~ok],
                              "reason": [reasons.get(i, NOT_IN_CATALOG) for i in want[~ok]]},
                             columns=["id", "reason"])
        with h5py.File(path, "r") as f:
            images = _take(f["images"], rows[ok])
        return ImageBatch(images, want[ok], drops)

    def iter_batches(self, ids: Sequence[int], size: int | None = None,
                     batch_size: int = 512) -> Iterator[ImageBatch]:
        """:meth:`read` over ``ids`` in chunks of ``batch_size`` (drops reported per chunk)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ids = list(ids)
        for start in range(0, len(ids), batch_size):
            yield self.read(ids[start:start + batch_size], size)


def open_store(cfg: "RunConfig", progress: bool = True) -> ImageStore:
    """This run's GZ2 images: catalog ids of ``data/interim/<source>-<profile>/gz2``, read at the
    field of view ``survey_b.fov_r90`` (:func:`field_crop`), stored under
    ``data/processed/<source>-<profile>/gz2/``; sizes are built on first use."""
    gz2_dir = cfg.data_dir("interim", "gz2")
    ids = pd.unique(gz2_schema.read_catalog(gz2_dir)["dr7objid"].to_numpy(np.int64))  # labels count dups
    sb = cfg.survey_b
    return ImageStore(gz2_dir / gz2_schema.IMAGES_DIR, ids, cfg.data_dir("processed", "gz2"),
                      field_crop(cfg.source, sb.fov_r90), sb.image_size, sb.fov_r90, progress)


def read_store(cfg: "RunConfig", ids: Sequence[int], size: int | None = None) -> ImageBatch:
    """One read of ``ids`` at ``size`` from this run's store (:func:`open_store`)."""
    return open_store(cfg).read(ids, size)
