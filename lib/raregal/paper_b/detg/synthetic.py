"""Synthetic D-ETGs: the generative extrapolation of Ma et al. (2025) §4.3 (Figs 6 and 7).

D-ETGs were left out of the diffusion model's training; it has to combine two common concepts — an
early type and a dust lane — from the weighted prompts of Fig. 7. Each synthetic D-ETG starts from a
real early type that nobody flagged with a dust lane (img2img, Ma et al. 2025 §2), so the model has
to add the lane.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from raregal.paper_b import classifiers

# Weighted prompts of Ma et al. (2025) Fig. 7 for synthetic D-ETGs.
DETG_PROMPTS = ("sdss, {completely round:1.2} galaxy, {dust lane:1.3}",
                "sdss, in-between round galaxy, {dust lane:1.3}")
ETG_TAGS = ("completely_round", "in_between_round")  # the early types the D-ETG prompts name


def clean_etgs(tags: pd.DataFrame, catalog: pd.DataFrame) -> np.ndarray:
    """dr7objids of round / in-between early types that no volunteer flagged with a dust lane and
    that are not in the known D-ETG catalog: the real early types D-ETGs are generated from."""
    from raregal.core.gz2_schema import column, stem_of

    lane_votes = catalog.set_index("dr7objid")[column(stem_of("t08", "a38"), "count")]
    etg = np.logical_or.reduce([tags[f"tag_{t}"].to_numpy(bool) for t in ETG_TAGS])
    quiet = lane_votes.reindex(tags["dr7objid"]).fillna(1).to_numpy() == 0
    known = tags["known_detg"].to_numpy(bool) if "known_detg" in tags else np.zeros(len(tags), bool)
    return tags["dr7objid"].to_numpy(np.int64)[etg & quiet & ~known]


def synthetic_detgs(cfg: Any, featurizer: classifiers.Featurizer, etg_ids: Sequence[int], store: Any,
                    n: int, n_references: int = 64) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``n`` synthetic D-ETGs split over the weighted prompts of Fig. 7, each started (img2img,
    Ma et al. 2025 §2) from a random real early type of ``etg_ids`` (see :func:`clean_etgs`), read
    from ``store`` (:class:`raregal.core.image_store.ImageStore`) at its size and field of view.
    Returns ``(views, uint8 images, note)``; ``(None, None, why)`` when there is no generator."""
    etg_ids = np.asarray(etg_ids, np.int64)
    if len(etg_ids) == 0:
        raise ValueError("no early-type reference galaxies to start the synthetic D-ETGs from")
    rng = np.random.default_rng(cfg.seed)
    refs = {}
    for name in ("detg_round", "detg_in_between"):
        pick = rng.choice(etg_ids, min(n_references, len(etg_ids)), replace=False)
        batch = store.read(pick.tolist())
        refs[name] = (batch.images, batch.ids.tolist()) if len(batch.ids) else (None, None)
    prompts = dict(zip(("detg_round", "detg_in_between"), DETG_PROMPTS))
    counts = {"detg_round": n - n // 2, "detg_in_between": n // 2}
    views, images, notes = {}, {}, {}
    for name, prompt in prompts.items():
        v, im, nt = classifiers.task_synthetic(cfg, featurizer, {name: prompt}, counts[name],
                                               {name: refs[name]})
        views.update(v)
        images.update(im)
        notes.update(nt)
    note = "; ".join(notes.values())
    if len(views) < len(prompts):
        return None, None, note
    return (np.concatenate([views[k] for k in prompts], axis=1),
            np.concatenate([images[k] for k in prompts]), note)
