"""A survey as shards (one Dask task each) and the readers that turn a shard into blocks of cutouts.

Input kinds (CONTRIBUTING.md "File contracts"):

- an HDF5 file, or a folder of them, with dataset ``images`` float32 (N, 3, 128, 128) g, r, z in
  nanomaggies and dataset ``id`` int64 (what the mock survey and the real fetch write): each file is
  cut into shards of ``shard_size`` rows;
- a Zarr store (or a folder of ``*.zarr``) with the same two arrays (needs the ``zarr`` package);
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

            return int(zarr.open(str(path), mode="r")["id"].shape[0])
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
def _open_arrays(shard: Shard):
    if shard.kind == "zarr":
        import zarr

        store = zarr.open(shard.path, mode="r")
        return store, store["images"], store["id"]
    import h5py

    h5 = h5py.File(shard.path, "r")
    return h5, h5["images"], h5["id"]


def _array_blocks(shard: Shard, raw_size: int, block: int) -> Iterator[Block]:
    shape = (len(steps.BANDS), raw_size, raw_size)
    try:
        handle, images, ids = _open_arrays(shard)
    except Exception as err:
        yield Block(np.zeros(0, np.int64), np.zeros((0, *shape), np.float32),
                    [Drop(shard.name, None, "unreadable_shard", f"{shard.path}: {type(err).__name__}: {err}")])
        return
    try:
        stop = len(ids) if shard.stop is None else min(shard.stop, len(ids))
        try:
            all_ids = np.asarray(ids[shard.start:stop], np.int64)
        except Exception as err:
            yield Block(np.zeros(0, np.int64), np.zeros((0, *shape), np.float32),
                        [Drop(shard.name, None, "unreadable_shard", f"{shard.path} id: {type(err).__name__}: {err}")])
            return
        if tuple(images.shape[1:]) != shape or images.shape[0] != len(ids):
            detail = f"{shard.path}: images {tuple(images.shape)} for {len(ids)} ids; need (N, {shape})"
            yield Block(np.zeros(0, np.int64), np.zeros((0, *shape), np.float32),
                        [Drop(shard.name, int(i), "wrong_shape", detail) for i in all_ids])
            return
        for s in range(0, len(all_ids), block):
            part = all_ids[s:s + block]
            try:
                batch = np.asarray(images[shard.start + s:shard.start + s + len(part)], np.float32)
            except Exception as err:  # a truncated or corrupted chunk: these rows are lost, counted
                yield Block(np.zeros(0, np.int64), np.zeros((0, *shape), np.float32),
                            [Drop(shard.name, int(i), "unreadable", f"{type(err).__name__}: {err}") for i in part])
                continue
            yield Block(part, batch)
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
