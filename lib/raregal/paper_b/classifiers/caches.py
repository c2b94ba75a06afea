"""Caches shared by notebooks 11 and 12: the catalog's views and the synthetic images.

Both are expensive (every catalog image through the encoder; every synthetic image through the
diffusion sampler) and both notebooks need them, so they are kept on disk — and reused only when
they were made from the same inputs and settings, never silently from stale ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------------------------
# the catalog's views (npz: views, ids read, drop table, and the key they were made with)
# ---------------------------------------------------------------------------------------------


def load_views(cache: Any, key: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame] | None:
    """``(views, ids, drops)`` from ``cache`` when it was written with ``key``; else None."""
    if cache is None or not Path(cache).exists():
        return None
    with np.load(cache, allow_pickle=False) as z:
        if str(z["key"]) != key:
            return None
        drops = pd.DataFrame({"id": z["drop_id"], "reason": z["drop_reason"]})
        return z["views"], z["ids"], drops


def save_views(cache: Any, key: str, views: np.ndarray, ids: np.ndarray, drops: pd.DataFrame) -> None:
    """Write the views with their ``key`` atomically (a half-written cache is never read)."""
    from raregal.core.outputs import atomic_path

    with atomic_path(Path(cache)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, views=views, ids=ids, key=key,
                     drop_id=np.asarray(drops["id"].astype(str).tolist(), dtype=str),
                     drop_reason=np.asarray(drops["reason"].astype(str).tolist(), dtype=str))


# ---------------------------------------------------------------------------------------------
# synthetic images (PNG + metadata.csv, written by raregal.paper_b.diffusion.generate)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticRequest:
    """What a set of synthetic images is made with; a cache serves only the same request.

    ``img2img``: each image starts from a noised real galaxy (Ma et al. 2025 §2), the
    ``reference_ids`` cycled as :func:`raregal.paper_b.diffusion.generate.generate_for_prompt` does;
    ``strength`` is the img2img noise level (unused by text-to-image).
    """

    prompt: str
    n: int
    steps: int
    guidance: float
    strength: float
    seed: int = 0
    img2img: bool = False
    reference_ids: tuple = ()

    def cycled_reference_ids(self) -> list[str]:
        ids = list(self.reference_ids)
        return [str(ids[k % len(ids)]) for k in range(self.n)] if ids else []


def synthetic_cache_is_fresh(out_dir: Any, pipeline_dir: Any, request: SyntheticRequest) -> bool:
    """True when ``out_dir/metadata.csv`` was written after the pipeline in ``pipeline_dir`` was
    last changed, for exactly ``request`` (prompt, count, seeds, steps, guidance, mode, strength and
    starting galaxies)."""
    meta_path, pipeline = Path(out_dir) / "metadata.csv", Path(pipeline_dir)
    if not meta_path.exists():
        return False
    if pipeline.exists() and pipeline.stat().st_mtime > meta_path.stat().st_mtime:
        return False  # a newer fine-tune: its images would differ
    meta = pd.read_csv(meta_path)
    r = request
    same = (len(meta) == r.n and (meta["prompt"] == r.prompt).all() and (meta["steps"] == r.steps).all()
            and "guidance" in meta and np.allclose(meta["guidance"], r.guidance)
            and meta["seed"].tolist() == list(range(r.seed, r.seed + r.n))
            and (meta["mode"] == ("img2img" if r.img2img else "text2img")).all())
    if same and r.img2img:  # the same starting galaxies at the same noise level
        same = (bool(r.reference_ids) and "strength" in meta and np.allclose(meta["strength"], r.strength)
                and meta["reference_id"].astype(str).tolist() == r.cycled_reference_ids())
    return bool(same)


def read_synthetic_cache(out_dir: Any, pipeline_dir: Any, request: SyntheticRequest) -> np.ndarray | None:
    """The cached uint8 images (N, H, W, 3) for ``request``, or None when there is no fresh, complete
    cache (a missing or unreadable PNG makes the whole set be generated again)."""
    if not synthetic_cache_is_fresh(out_dir, pipeline_dir, request):
        return None
    from raregal.core.images import read_images

    meta = pd.read_csv(Path(out_dir) / "metadata.csv")
    batch = read_images(out_dir, [Path(f).stem for f in meta["file"]], ext=".png")
    return batch.images if len(batch.drops) == 0 else None


def request_for(prompt: str, n: int, steps: int, guidance: float, strength: float, seed: int,
                references: Any, reference_ids: Sequence | None) -> SyntheticRequest:
    """The :class:`SyntheticRequest` of a ``generate_for_prompt`` call with these arguments."""
    return SyntheticRequest(prompt, int(n), int(steps), float(guidance), float(strength), int(seed),
                            references is not None,
                            tuple(reference_ids) if reference_ids is not None else ())
