"""Synthetic D-ETGs: the generative extrapolation of Ma et al. (2025) §4.3 (Figs 6 and 7).

D-ETGs were left out of the diffusion model's training; it has to combine two common concepts — an
early type and a dust lane — from the weighted prompts of Fig. 7. Each synthetic D-ETG starts from a
real early type that nobody flagged with a dust lane (img2img, Ma et al. 2025 §2), so the model has
to add the lane.

The prompt weights, img2img strength and guidance come from the profile's ``detg`` section
(:func:`profile_setting`) or from arguments, so ``benchmarks/detg_synthesis.py`` can measure which
setting makes synthetic D-ETGs that show a lane and that a classifier transfers to real ones.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from raregal.paper_b import classifiers

ROUND_WEIGHT, LANE_WEIGHT = 1.2, 1.3  # the weights of Ma et al. (2025) Fig. 7
PROMPT_NAMES = ("detg_round", "detg_in_between")  # one cache folder each (data/processed/…/synthetic/)
ETG_TAGS = ("completely_round", "in_between_round")  # the early types the D-ETG prompts name


def detg_prompts(round_weight: float = ROUND_WEIGHT, lane_weight: float = LANE_WEIGHT) -> tuple[str, str]:
    """The two weighted prompts of Ma et al. (2025) Fig. 7 (round, in-between early type) with the
    given weights on "completely round" and "dust lane" (> 1 stresses the phrase)."""
    for name, w in (("round_weight", round_weight), ("lane_weight", lane_weight)):
        if not 0 < float(w) < 100:
            raise ValueError(f"{name} must be a positive prompt weight below 100, got {w}")
    return (f"sdss, {{completely round:{float(round_weight):g}}} galaxy, {{dust lane:{float(lane_weight):g}}}",
            f"sdss, in-between round galaxy, {{dust lane:{float(lane_weight):g}}}")


DETG_PROMPTS = detg_prompts()  # the prompts of Fig. 7 with the paper's weights


def profile_setting(cfg: Any) -> dict[str, Any]:
    """The prompts, img2img strength and guidance of ``cfg``'s synthetic D-ETGs: its ``detg`` section
    (``lane_weight``, ``synthetic_strength``, ``synthetic_guidance``), where a None strength or guidance
    falls back to ``classifiers.synthetic_strength`` and ``diffusion.guidance``."""
    d = cfg.detg
    return {"prompts": detg_prompts(lane_weight=d.lane_weight),
            "strength": cfg.classifiers.synthetic_strength if d.synthetic_strength is None
            else float(d.synthetic_strength),
            "guidance": cfg.diffusion.guidance if d.synthetic_guidance is None
            else float(d.synthetic_guidance)}


def clean_etgs(tags: pd.DataFrame, catalog: pd.DataFrame) -> np.ndarray:
    """dr7objids of round / in-between early types that no volunteer flagged with a dust lane and
    that are not in the known D-ETG catalog: the real early types D-ETGs are generated from."""
    from raregal.core.gz2_schema import column, stem_of

    lane_votes = catalog.set_index("dr7objid")[column(stem_of("t08", "a38"), "count")]
    etg = np.logical_or.reduce([tags[f"tag_{t}"].to_numpy(bool) for t in ETG_TAGS])
    quiet = lane_votes.reindex(tags["dr7objid"]).fillna(1).to_numpy() == 0
    known = tags["known_detg"].to_numpy(bool) if "known_detg" in tags else np.zeros(len(tags), bool)
    return tags["dr7objid"].to_numpy(np.int64)[etg & quiet & ~known]


def detg_references(etg_ids: Sequence[int], store: Any, seed: int, n_references: int = 64
                    ) -> dict[str, tuple[np.ndarray | None, list | None]]:
    """Per prompt name, the real early types its images start from: ``n_references`` random
    ``etg_ids`` (seeded; drawn for the round prompt first), read from ``store`` as (uint8 images, ids).
    Image k of a prompt starts from reference ``k % n_references``."""
    etg_ids = np.asarray(etg_ids, np.int64)
    if len(etg_ids) == 0:
        raise ValueError("no early-type reference galaxies to start the synthetic D-ETGs from")
    rng = np.random.default_rng(seed)
    refs = {}
    for name in PROMPT_NAMES:
        pick = rng.choice(etg_ids, min(n_references, len(etg_ids)), replace=False)
        batch = store.read(pick.tolist())
        refs[name] = (batch.images, batch.ids.tolist()) if len(batch.ids) else (None, None)
    return refs


def prompt_counts(n: int) -> dict[str, int]:
    """How ``n`` synthetic D-ETGs split over the two prompts (the round one takes the odd one)."""
    round_name, in_between_name = PROMPT_NAMES
    return {round_name: n - n // 2, in_between_name: n // 2}


def synthetic_detgs(cfg: Any, featurizer: classifiers.Featurizer, etg_ids: Sequence[int], store: Any,
                    n: int, n_references: int = 64, prompts: Sequence[str] | None = None,
                    strength: float | None = None, guidance: float | None = None
                    ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``n`` synthetic D-ETGs split over the weighted prompts of Fig. 7, each started (img2img,
    Ma et al. 2025 §2) from a random real early type of ``etg_ids`` (see :func:`clean_etgs`), read
    from ``store`` (:class:`raregal.core.image_store.ImageStore`) at its size and field of view.

    Parameters
    ----------
    prompts : (round prompt, in-between prompt), optional
        Default: Fig. 7's with the profile's ``detg.lane_weight`` (:func:`profile_setting`);
        :func:`detg_prompts` makes them with other weights.
    strength : float, optional
        img2img strength in (0, 1] (fraction of the schedule re-run); default the profile's
        (:func:`profile_setting`).
    guidance : float, optional
        Classifier-free guidance scale; default the profile's (:func:`profile_setting`).

    Returns
    -------
    (views, uint8 images, note)
        ``(None, None, why)`` when there is no generator.
    """
    profile = profile_setting(cfg)
    prompts = tuple(profile["prompts"] if prompts is None else prompts)
    if len(prompts) != len(PROMPT_NAMES):
        raise ValueError(f"need {len(PROMPT_NAMES)} prompts (round, in-between), got {len(prompts)}")
    strength = profile["strength"] if strength is None else float(strength)
    guidance = profile["guidance"] if guidance is None else float(guidance)
    cfg = cfg.with_overrides(classifiers={"synthetic_strength": strength}, diffusion={"guidance": guidance})
    refs = detg_references(etg_ids, store, cfg.seed, n_references)
    counts = prompt_counts(n)
    views, images, notes = {}, {}, {}
    for name, prompt in zip(PROMPT_NAMES, prompts):
        v, im, nt = classifiers.task_synthetic(cfg, featurizer, {name: prompt}, counts[name],
                                               {name: refs[name]})
        views.update(v)
        images.update(im)
        notes.update(nt)
    note = "; ".join(notes.values())
    if len(views) < len(prompts):
        return None, None, note
    return (np.concatenate([views[k] for k in PROMPT_NAMES], axis=1),
            np.concatenate([images[k] for k in PROMPT_NAMES]), note)
