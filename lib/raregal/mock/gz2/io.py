"""Writing the paper B mock to the files of the CONTRIBUTING contract: ``images/<dr7objid>.jpg``,
``gz2_hart16.csv.gz`` and ``detg_known.csv``.

Why streaming: a paper-size mock (239,695 GZ2 galaxies in Ma et al. 2025) does not fit in memory as
images, so they are rendered and written one batch at a time, each batch with its own stream.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from raregal.core import gz2_schema
from raregal.core.images import write_images
from raregal.mock.gz2.catalog import make_catalog
from raregal.mock.gz2.rendering import render_batch, render_batch_size


def write_survey(out_dir: Path | str, n: int, image_size: int = 64, seed: int = 0,
                 fov_r90: float = 4.24, detg_fraction: float = 0.0013, quality: int = 92,
                 log=print, detg_lane_depth: float = 1.0) -> dict:
    """Write ``images/<dr7objid>.jpg``, ``gz2_hart16.csv.gz`` and ``detg_known.csv`` under ``out_dir``.

    Images are rendered :func:`render_batch_size` at a time, so memory stays flat for any ``n``;
    batch ``k`` uses the stream ``[seed, 7, k]`` and the known D-ETG draw ``[seed, 99]``.

    Parameters
    ----------
    out_dir : the ``data_dir("interim", "gz2")`` folder.
    n : galaxies. image_size : image side [px]. seed : makes catalog and images reproducible.
    fov_r90 : image side in units of R90 (GZ2: 8.48). detg_fraction : fraction of D-ETGs.
    quality : JPEG quality. log : progress printer, or None.
    detg_lane_depth : the D-ETGs' lane optical depth relative to the other lanes' (1: the same).

    Returns
    -------
    dict: n_galaxies, image_size, n_detg_true, n_detg_known, and timings [s] and images per second.
    """
    from raregal.core.outputs import atomic_path

    out = Path(out_dir)
    t0 = time.perf_counter()
    cat = make_catalog(n, seed, detg_fraction)
    t_cat = time.perf_counter() - t0
    img_dir = out / gz2_schema.IMAGES_DIR
    img_dir.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    step = render_batch_size(image_size)
    for start in range(0, n, step):
        part = cat.iloc[start:start + step]
        rng = np.random.default_rng([seed, 7, start // step])
        images = render_batch(part, image_size, fov_r90, rng, detg_lane_depth=detg_lane_depth)
        write_images(img_dir, part.dr7objid.to_numpy(), images, quality=quality)
        if log and (start // step) % max(1, 5000 // step) == 0:
            log(f"  rendered {min(start + step, n):,}/{n:,} images")
    t_img = time.perf_counter() - t1
    with atomic_path(out / gz2_schema.CATALOG_FILE) as tmp:
        cat.to_csv(tmp, index=False, compression={"method": "gzip", "compresslevel": 1})
    rng = np.random.default_rng([seed, 99])
    known = cat[cat.true_detg & (cat.z < 0.1) & (rng.random(n) < 0.8)]
    with atomic_path(out / gz2_schema.KNOWN_DETG_FILE) as tmp:
        known[["dr7objid", "ra", "dec", "z"]].to_csv(tmp, index=False)
    return {"n_galaxies": n, "image_size": image_size, "n_detg_true": int(cat.true_detg.sum()),
            "n_detg_known": len(known), "catalog_s": round(t_cat, 2), "render_write_s": round(t_img, 2),
            "images_per_s": round(n / max(t_img, 1e-9), 1), "total_s": round(time.perf_counter() - t0, 2)}
