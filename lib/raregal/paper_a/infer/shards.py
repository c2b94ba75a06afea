"""A survey as shards (one Dask task each) and the readers that turn a shard into blocks of cutouts.

Input kinds (CONTRIBUTING.md "File contracts"):

- an HDF5 file, or a folder of them, with dataset ``images`` float32 (N, 3, 128, 128) g, r, z in
  nanomaggies and dataset ``id`` int64 (what the mock survey and the real fetch write): each file is
  cut into shards of ``shard_size`` rows;
- a Zarr store (or a folder of ``*.zarr``) with the same two arrays (zarr-python 3, Zarr format 2 or
  3, chunked or sharded); a chunk file absent from the store is a drop of the rows it held, not the
  fill value Zarr would read in its place (:func:`zarr_absent_rows`);
- a folder of FITS cutouts ``<id>.fits`` (one (3, 128, 128) g, r, z cube each), cut into shards of
  ``shard_size`` files in sorted order;
- a table of (id, ra, dec) is fetched first (see :func:`raregal.paper_a.infer.engine.fetch_table`) and
  becomes FITS shards.

Shard names are stable for the same input (file stem + first row, or the FITS chunk index), so a
rerun finds the parts it already wrote. Nothing here raises on bad data: a file that cannot be read,
a block whose bytes are damaged, a cube with a missing band or of another shape become drops with
their reason (:class:`Drop`), and the run goes on.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from raregal.paper_a.infer import steps

H5_SUFFIXES = (".h5", ".hdf5")
FITS_SUFFIXES = (".fits", ".fit", ".fits.gz")
DEFAULT_SHARD_SIZE = 4096
BLOCK = 256  # cutouts in memory at once inside a shard (≈50 MB of 128 px float32 grz)
#: reasons beyond 02_preprocess's pixel checks
READ_REASONS = ("unreadable_shard", "unreadable", "wrong_shape", "missing_band", "bad_id", "fetch_failed",
                "task_failed")


class InputError(ValueError):
    """The survey input itself cannot be used (nothing found, unknown kind): a clear message."""


@dataclass(frozen=True)
class Shard:
    """One task's worth of input: rows [start, stop) of an array file, or a list of FITS files."""

    name: str
    kind: str  # h5 | zarr | fits
    path: str = ""
    start: int = 0
    stop: int | None = None  # None: length unknown (the file could not be opened when listing)
    files: tuple[tuple[int, str], ...] = ()

    @property
    def n_expected(self) -> int | None:
        if self.kind == "fits":
            return len(self.files)
        return None if self.stop is None else self.stop - self.start


@dataclass(frozen=True)
class Drop:
    shard: str
    id: int | None
    reason: str
    detail: str = ""


@dataclass
class Block:
    ids: np.ndarray
    images: np.ndarray
    drops: list[Drop] = field(default_factory=list)


def _array_length(path: Path, kind: str) -> int | None:
    try:
        if kind == "zarr":
            import zarr

            return int(zarr.open_group(str(path), mode="r")["id"].shape[0])
        import h5py

        with h5py.File(path, "r") as h5:
            return int(h5["id"].shape[0])
    except Exception:  # damaged or foreign file: the worker records why, as a drop
        return None


def _array_shards(path: Path, kind: str, shard_size: int) -> list[Shard]:
    n = _array_length(path, kind)
    if n is None:
        return [Shard(f"{path.stem}-unread", kind, str(path), 0, None)]
    return [Shard(f"{path.stem}-{s:010d}", kind, str(path), s, min(s + shard_size, n)) for s in range(0, n, shard_size)]


def _fits_id(path: Path) -> int | None:
    stem = re.sub(r"\.(fits|fit)(\.gz)?$", "", path.name)
    return int(stem) if re.fullmatch(r"-?\d+", stem) else None


def fits_shards(files: list[tuple[int, str]], shard_size: int, prefix: str = "fits") -> list[Shard]:
    """(id, path) pairs, in the given order, cut into shards of ``shard_size``."""
    return [Shard(f"{prefix}-{k:06d}", "fits", files=tuple(files[s:s + shard_size]))
            for k, s in enumerate(range(0, len(files), shard_size))]


def discover(source: Path | str, shard_size: int = DEFAULT_SHARD_SIZE) -> tuple[list[Shard], list[Drop]]:
    """Shards of an HDF5/Zarr file or folder or a FITS folder; FITS files not named by an integer id
    are listed drops (``bad_id``). Raises :class:`InputError` when nothing usable is there."""
    if shard_size < 1:
        raise InputError(f"shard size must be >= 1, got {shard_size}")
    p = Path(source)
    if not p.exists():
        raise InputError(f"survey input {p} does not exist")
    if p.suffix == ".zarr":
        return _array_shards(p, "zarr", shard_size), []
    if p.is_file():
        if p.suffix.lower() in H5_SUFFIXES:
            return _array_shards(p, "h5", shard_size), []
        raise InputError(f"{p}: expected an HDF5 file ({', '.join(H5_SUFFIXES)}), a Zarr store, a folder of "
                         "them or of FITS cutouts, or an (id, ra, dec) table (.csv/.parquet) to fetch")
    arrays = sorted(f for f in p.iterdir() if f.suffix.lower() in H5_SUFFIXES or f.suffix == ".zarr")
    if arrays:
        return [s for f in arrays for s in _array_shards(f, "zarr" if f.suffix == ".zarr" else "h5", shard_size)], []
    fits = sorted(f for f in p.iterdir() if f.name.lower().endswith(FITS_SUFFIXES))
    if not fits:
        raise InputError(f"{p} holds no HDF5 ({', '.join(H5_SUFFIXES)}), Zarr or FITS cutouts")
    named = [(_fits_id(f), str(f)) for f in fits]
    drops = [Drop("listing", None, "bad_id", f"{path}: FITS cutouts must be named <id>.fits")
             for i, path in named if i is None]
    good = sorted((i, path) for i, path in named if i is not None)
    return fits_shards(good, shard_size), drops


# --------------------------------------------------------------------------------------------
# Reading a shard (on a worker)
# --------------------------------------------------------------------------------------------
def _open_store(shard: Shard):
    """The open HDF5 file or Zarr group of an array shard (closed by the caller when it can be)."""
    if shard.kind == "zarr":
        import zarr

        return zarr.open_group(shard.path, mode="r")
    import h5py

    return h5py.File(shard.path, "r")


def zarr_absent_rows(store: str, array, start: int, stop: int) -> tuple[np.ndarray, list[str]]:
    """Rows [start, stop) of a Zarr array in a local store whose stored chunk (or shard) file is absent,
    and the absent keys.

    Why: Zarr reads an absent chunk as the array's fill value without an error, so a chunk file lost in
    a copy would silently become galaxies with id 0 or blank cutouts. (A writer may also leave out a
    chunk that held only the fill value; for cutouts that is an all-zero block, a drop either way.)
    """
    stored = array.shards or array.chunks  # the shape of one stored object along each axis
    span = int(stored[0])
    others = [range(-(-int(n) // int(c))) for n, c in zip(array.shape[1:], stored[1:])]
    absent = np.zeros(max(stop - start, 0), bool)
    keys = []
    for k in range(start // span, -(-stop // span)):
        for rest in itertools.product(*others):
            key = array.metadata.encode_chunk_key((k, *rest))
            if not (Path(store) / array.path / key).exists():
                absent[max(k * span, start) - start:min((k + 1) * span, stop) - start] = True
                keys.append(f"{array.path}/{key}")
    return absent, keys


def _empty_block(shape, drops: list[Drop]) -> Block:
    return Block(np.zeros(0, np.int64), np.zeros((0, *shape), np.float32), drops)


def _stored_span(images) -> int:
    """Rows per stored object (Zarr chunk or shard, HDF5 chunk; 1 for contiguous HDF5): the smallest
    read that damaged bytes elsewhere cannot spoil."""
    if hasattr(images, "metadata"):  # Zarr
        return int((images.shards or images.chunks)[0])
    return int(images.chunks[0]) if getattr(images, "chunks", None) else 1


def _read_rows(images, shard: Shard, all_ids: np.ndarray, rows: np.ndarray, shape) -> Block:
    """The cutouts of ``rows`` (indices into the shard, increasing) in one read; when that read fails
    (a truncated or corrupted chunk), again one stored chunk at a time, so only the rows of the
    damaged chunks are lost — each a drop with the error."""
    def read(r):
        return np.asarray(images[shard.start + r[0]:shard.start + r[-1] + 1], np.float32)[r - r[0]]

    try:
        return Block(all_ids[rows], read(rows))
    except Exception:
        pass
    span = _stored_span(images)
    kept, batches, drops = [], [], []
    for piece in np.split(rows, np.flatnonzero(np.diff((shard.start + rows) // span)) + 1):
        try:
            batches.append(read(piece))
            kept.append(piece)
        except Exception as err:
            drops += [Drop(shard.name, int(i), "unreadable", f"{shard.path}: {type(err).__name__}: {err}")
                      for i in all_ids[piece]]
    kept = np.concatenate(kept) if kept else np.zeros(0, int)
    return Block(all_ids[kept], np.concatenate(batches) if batches else np.zeros((0, *shape), np.float32), drops)


def _array_blocks(shard: Shard, raw_size: int, block: int) -> Iterator[Block]:
    """Blocks of an HDF5 or Zarr shard. Why so many checks: a shard can be unreadable as a whole,
    have unreadable ids or images, the wrong shape, absent Zarr chunks or damaged chunk bytes; each
    loses exactly the rows it touches, as drops with the reason, and the rest of the shard goes on."""
    shape = (len(steps.BANDS), raw_size, raw_size)
    handle = None
    try:
        try:
            handle = _open_store(shard)
            ids = handle["id"]
            stop = int(ids.shape[0]) if shard.stop is None else min(shard.stop, int(ids.shape[0]))
            all_ids = np.asarray(ids[shard.start:stop], np.int64)
        except Exception as err:
            yield _empty_block(shape, [Drop(shard.name, None, "unreadable_shard",
                                            f"{shard.path}: {type(err).__name__}: {err}")])
            return
        try:
            images = handle["images"]
        except Exception as err:
            yield _empty_block(shape, [Drop(shard.name, int(i), "unreadable",
                                            f"{shard.path} images: {type(err).__name__}: {err}") for i in all_ids])
            return
        zarr_kind = shard.kind == "zarr"
        no_id, id_keys = zarr_absent_rows(shard.path, ids, shard.start, stop) if zarr_kind else (None, [])
        known = [None if no_id is not None and no_id[r] else int(i) for r, i in enumerate(all_ids)]
        if tuple(images.shape[1:]) != shape or images.shape[0] != ids.shape[0]:
            detail = f"{shard.path}: images {tuple(images.shape)} for {ids.shape[0]} ids; need (N, {shape})"
            yield _empty_block(shape, [Drop(shard.name, i, "wrong_shape", detail) for i in known])
            return
        lost = np.zeros(len(all_ids), bool)
        if zarr_kind:
            no_image, image_keys = zarr_absent_rows(shard.path, images, shard.start, stop)
            lost = no_id | no_image
            detail = f"{shard.path}: chunk file(s) absent from the store: {', '.join(id_keys + image_keys)}"
            yield _empty_block(shape, [Drop(shard.name, known[r], "unreadable", detail) for r in np.flatnonzero(lost)])
        for s in range(0, len(all_ids), block):
            rows = np.arange(s, min(s + block, len(all_ids)))
            rows = rows[~lost[rows]]
            if not len(rows):
                continue
            yield _read_rows(images, shard, all_ids, rows, shape)
    finally:
        close = getattr(handle, "close", None)
        if close is not None:
            close()


def read_fits_cutout(path: str, raw_size: int) -> tuple[np.ndarray | None, str, str]:
    """(cube, reason, detail): the (3, H, W) float32 cube, or None with the drop reason."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            cube = next((h.data for h in hdul if h.data is not None), None)
            cube = None if cube is None else np.array(cube, dtype=np.float32)
    except Exception as err:
        return None, "unreadable", f"{path}: {type(err).__name__}: {err}"
    if cube is None:
        return None, "unreadable", f"{path}: no image data"
    nb = 1 if cube.ndim == 2 else cube.shape[0]
    if cube.ndim in (2, 3) and nb < len(steps.BANDS) and cube.shape[-2:] == (raw_size, raw_size):
        return None, "missing_band", f"{path}: {nb} band(s), need {len(steps.BANDS)} ({''.join(steps.BANDS)})"
    if cube.shape != (len(steps.BANDS), raw_size, raw_size):
        return None, "wrong_shape", f"{path}: shape {cube.shape}, need ({len(steps.BANDS)}, {raw_size}, {raw_size})"
    return cube, "", ""


def _fits_blocks(shard: Shard, raw_size: int, block: int) -> Iterator[Block]:
    for s in range(0, len(shard.files), block):
        ids, cubes, drops = [], [], []
        for i, path in shard.files[s:s + block]:
            cube, reason, detail = read_fits_cutout(path, raw_size)
            if cube is None:
                drops.append(Drop(shard.name, int(i), reason, detail))
            else:
                ids.append(int(i))
                cubes.append(cube)
        images = np.stack(cubes) if cubes else np.zeros((0, len(steps.BANDS), raw_size, raw_size), np.float32)
        yield Block(np.asarray(ids, np.int64), images, drops)


def iter_blocks(shard: Shard, raw_size: int = steps.RAW_SIZE, block: int = BLOCK) -> Iterator[Block]:
    """Blocks of at most ``block`` cutouts of a shard, with the drops met while reading them."""
    if shard.kind == "fits":
        return _fits_blocks(shard, raw_size, block)
    return _array_blocks(shard, raw_size, block)
