"""Batched reading and writing of folder-of-JPEG/PNG image sets (GZ2 layout: ``<folder>/<id>.jpg``).

Why: every paper-B stage (diffusion, SimCLR, classifiers, search) reads the same images by id; this
is the one place that resizes them and counts what could not be read, so a missing or broken file
is reported (``drops``: id, reason) and never silently skipped.

- :func:`read_images` — ids → uint8 (N, H, W, 3) at a requested size (optional centre crop), plus the
  ids actually read and the drop table.
- :func:`iter_image_batches` — the same in batches, for sets that do not fit in memory.
- :func:`find_missing` — ids without a file (drop table), without decoding anything.
- :func:`to_tensor` — uint8 (N, H, W, 3) → float32 torch tensor (N, 3, H, W) in [0, 1].
- :func:`resize` — the one array resize (channels-first, bilinear with antialiasing) every stage uses.
- :func:`write_images` — uint8 arrays → ``<folder>/<id>.<ext>`` (atomic per file).

Paper-B notebooks read the survey through :mod:`raregal.core.image_store`, which decodes each image
once per size with :func:`read_images` at the profile's field of view and keeps the arrays in HDF5.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

EXTENSIONS = (".jpg", ".jpeg", ".png")
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}  # what a file's extension promises


class WrongFormat(ValueError):
    """A file whose content is not the format its extension names (e.g. a PNG saved as .jpg)."""


class ImageBatch(NamedTuple):
    images: np.ndarray  # uint8 (n_read, size, size, 3)
    ids: np.ndarray  # ids of the rows of ``images``
    drops: pd.DataFrame  # id, reason — every requested id that was not read


def _load(path: Path, size: int | None, crop: float) -> np.ndarray:
    with Image.open(path) as im:
        expected = _FORMATS.get(path.suffix.lower())
        if expected and im.format != expected:
            raise WrongFormat(f"not a {expected} ({im.format})")
        im = im.convert("RGB")
        if crop < 1.0:
            w, h = im.size
            cw, ch = max(1, round(w * crop)), max(1, round(h * crop))
            left, top = (w - cw) // 2, (h - ch) // 2
            im = im.crop((left, top, left + cw, top + ch))
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def image_path(folder: Path | str, image_id, ext: str | None = None) -> Path | None:
    """The file for ``image_id`` (``ext`` given, or the first of ``EXTENSIONS`` that exists)."""
    folder = Path(folder)
    for e in ([ext] if ext else EXTENSIONS):
        p = folder / f"{image_id}{e}"
        if p.exists():
            return p
    return None


def find_missing(folder: Path | str, ids: Iterable, ext: str = ".jpg") -> pd.DataFrame:
    """Drop table (id, reason) of ids with no ``<folder>/<id><ext>`` — one directory listing, fast."""
    folder = Path(folder)
    present = set(os.listdir(folder)) if folder.is_dir() else set()
    gone = [i for i in ids if f"{i}{ext}" not in present]
    return pd.DataFrame({"id": gone, "reason": f"no image file ({ext})"}, columns=["id", "reason"])


def read_images(folder: Path | str, ids: Sequence, size: int | None = None, crop: float = 1.0,
                ext: str | None = None) -> ImageBatch:
    """Read ``<folder>/<id><ext>`` for each id as uint8 RGB, resized to ``size`` × ``size``.

    ``crop`` < 1 keeps the central fraction of each side first (e.g. 0.5 turns a 424 px GZ2 image
    into its central 212 px; :func:`raregal.core.image_store.field_crop` gives the profile's value).
    ``size=None`` keeps the file's size (all must then agree). Missing and unreadable files, and files
    whose content is not what their extension says ("not a JPEG (PNG)"), are listed in ``drops``;
    the order of ``ids`` is kept for the others.
    """
    if not 0.0 < crop <= 1.0:
        raise ValueError(f"crop must be in (0, 1], got {crop}")
    if size is not None and size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    arrays, kept, drops = [], [], []
    for image_id in ids:
        path = image_path(folder, image_id, ext)
        if path is None:
            drops.append((image_id, "missing file"))
            continue
        try:
            arr = _load(path, size, crop)
        except WrongFormat as err:
            drops.append((image_id, str(err)))
            continue
        except (UnidentifiedImageError, OSError, ValueError) as err:
            drops.append((image_id, f"unreadable: {type(err).__name__}"))
            continue
        if arrays and arr.shape != arrays[0].shape:
            drops.append((image_id, f"size {arr.shape[:2]} differs from {arrays[0].shape[:2]}; "
                                    "pass size= to resize"))
            continue
        arrays.append(arr)
        kept.append(image_id)
    h = size if size is not None else (arrays[0].shape[0] if arrays else 0)
    images = np.stack(arrays) if arrays else np.zeros((0, h, h, 3), np.uint8)
    return ImageBatch(images, np.asarray(kept), pd.DataFrame(drops, columns=["id", "reason"]))


def iter_image_batches(folder: Path | str, ids: Sequence, batch_size: int = 512,
                       **kwargs) -> Iterator[ImageBatch]:
    """:func:`read_images` over ``ids`` in chunks of ``batch_size`` (drops reported per chunk)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ids = list(ids)
    for start in range(0, len(ids), batch_size):
        yield read_images(folder, ids[start:start + batch_size], **kwargs)


def to_tensor(images: np.ndarray):
    """uint8 (N, H, W, 3) → float32 torch tensor (N, 3, H, W) scaled to [0, 1]."""
    import torch

    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected images shaped (N, H, W, 3), got {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).float().div_(255.0)


def write_images(folder: Path | str, ids: Iterable, images: np.ndarray, ext: str = ".jpg",
                 quality: int = 92) -> list[Path]:
    """Write each uint8 (H, W, 3) image to ``<folder>/<id><ext>`` (temp name, then rename)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ids = list(ids)
    if len(ids) != len(images):
        raise ValueError(f"{len(ids)} ids for {len(images)} images")
    if ext not in EXTENSIONS:
        raise ValueError(f"unknown image extension {ext!r}; use one of {EXTENSIONS}")
    fmt = "PNG" if ext == ".png" else "JPEG"
    opts = {"quality": quality} if fmt == "JPEG" else {}
    written = []
    for image_id, arr in zip(ids, images):
        target = folder / f"{image_id}{ext}"
        tmp = folder / f".{image_id}{ext}.tmp"
        Image.fromarray(np.asarray(arr, np.uint8)).save(tmp, format=fmt, **opts)
        os.replace(tmp, target)
        written.append(target)
    return written


def resize(batch, size: int):
    """Resize a channels-first batch (N, C, H, W) to (N, C, size, size): bilinear with antialiasing.

    The one array resize of the package (eq. 1 cutouts, SimCLR and classifier views, img2img
    references), so every stage sees the same pixels. A numpy array comes back as float32 numpy, a
    torch tensor as a tensor; a batch already at ``size`` is returned as it is. JPEG files are
    resized while decoding in :func:`read_images` (PIL's Lanczos on the full-size image).
    """
    import torch
    import torch.nn.functional as F

    is_tensor = torch.is_tensor(batch)
    x = batch if is_tensor else torch.from_numpy(np.ascontiguousarray(batch, np.float32))
    if tuple(x.shape[-2:]) == (size, size):
        return batch
    x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x if is_tensor else x.numpy()

