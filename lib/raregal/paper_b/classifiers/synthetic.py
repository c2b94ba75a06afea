"""Synthetic positives for the augmented arm, from the diffusion pipeline fine-tuned in notebook 08.

Each synthetic galaxy starts from a noised real one (img2img; Ma et al. 2025 §2 start denoising from
a noised reference image to avoid the over-bright text-to-image samples). The references are
galaxies with a majority vote for the feature that are *not* well-sampled, so none of them is in a
split of Table 2. Without a pipeline the augmented arm is reported as not run, never filled with
something else.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from raregal.paper_b.classifiers.caches import read_synthetic_cache, request_for
from raregal.paper_b.classifiers.featurizer import Featurizer
from raregal.paper_b.classifiers.table2 import TABLE2_TAGS


def synthetic_images(model_dir: Any, prompt: str, n: int, out_dir: Any, steps: int, strength: float,
                     seed: int = 0, references: np.ndarray | None = None,
                     reference_ids: Sequence | None = None,
                     guidance: float | None = None) -> tuple[np.ndarray | None, str]:
    """``n`` images of ``prompt`` from the fine-tuned diffusion pipeline of notebook 08, cached in
    ``out_dir`` (PNG + metadata.csv); ``(None, reason)`` when there is no pipeline to ask — then the
    augmented arm is reported as not run, never filled with something else.

    Parameters
    ----------
    model_dir : path
        The fine-tune folder of notebook 08 (its ``pipeline/`` is the final pipeline).
    prompt : str
        Generation prompt (weighted prompts allowed, e.g. ``{dust lane:1.3}``).
    n : int
        Number of images; seeds ``seed .. seed + n - 1``.
    out_dir : path
        Cache folder; reused only when it holds these images made by the current pipeline
        (:func:`raregal.paper_b.classifiers.caches.synthetic_cache_is_fresh`).
    steps : int
        Sampler steps.
    strength : float
        img2img noise level in (0, 1] (1 = start from pure noise).
    references, reference_ids : optional
        uint8 (M, H, W, 3) starting galaxies and their ids (cycled over the ``n`` images).
    guidance : float, optional
        Classifier-free guidance scale (default: the generator's).

    Returns
    -------
    (images or None, note)
        uint8 (n, H, W, 3) and a note saying whether they were cached, generated, or why not.
    """
    from pathlib import Path

    from raregal.paper_b.diffusion.generate import GUIDANCE

    guidance = GUIDANCE if guidance is None else float(guidance)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    request = request_for(prompt, n, steps, guidance, strength, seed, references, reference_ids)
    cached = read_synthetic_cache(out_dir, model_dir / "pipeline", request)
    if cached is not None:
        return cached, f"{n} cached synthetic images"
    try:
        from raregal.paper_b.diffusion.generate import generate_for_prompt
    except ImportError as err:  # the generator module is missing: say so
        return None, f"not run: diffusion generator unavailable ({err})"
    if not model_dir.exists():
        return None, f"not run: no fine-tuned diffusion pipeline at {model_dir} (run 08_finetune_diffusion)"
    try:
        images, _ = generate_for_prompt(model_dir, prompt, n, seed=seed, references=references,
                                        reference_ids=reference_ids, out_dir=out_dir, steps=steps,
                                        strength=strength, guidance=guidance, progress=False)
    except FileNotFoundError as err:  # e.g. the fine-tune has checkpoints but no final pipeline yet
        return None, f"not run: {err}"
    return images, f"{n} synthetic images generated"


def task_synthetic(cfg: Any, featurizer: Featurizer, prompts: dict[str, str], n: int,
                   references: dict[str, tuple[np.ndarray, Sequence]] | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, str]]:
    """Synthetic positives per task (name → prompt) from notebook 08's pipeline, as views.

    Returns ``(views, images, notes)``; a task without images is absent from ``views`` and its note
    says why. ``references`` (name → (uint8 images, ids)) makes img2img starts (Ma et al. 2025 §2)."""
    c = cfg.classifiers
    views, images, notes = {}, {}, {}
    for name, prompt in prompts.items():
        ref, ref_ids = (references or {}).get(name, (None, None))
        imgs, note = synthetic_images(cfg.data_dir("models", "diffusion"), prompt, n,
                                      cfg.data_dir("processed", "synthetic", name), c.synthetic_steps,
                                      c.synthetic_strength, seed=cfg.seed, references=ref,
                                      reference_ids=ref_ids, guidance=cfg.diffusion.guidance)
        notes[name] = f"{note} · prompt {prompt!r}"
        if imgs is not None:
            images[name] = imgs
            views[name] = featurizer.images(imgs)
    return views, images, notes


def reference_images(tags: pd.DataFrame, catalog: pd.DataFrame, store: Any, task: str,
                     n: int = 64, min_fraction: float = 0.7, seed: int = 0
                     ) -> tuple[np.ndarray | None, list]:
    """Real galaxies to start a task's synthetic positives from (img2img, Ma et al. 2025 §2):
    volunteers' vote fraction for the task's answer(s) ≥ ``min_fraction`` but *not* well-sampled, so
    they are in no split of :func:`raregal.paper_b.classifiers.table2.run_table2` and no test galaxy
    leaks into training through a reference. Images come from ``store``
    (:class:`raregal.core.image_store.ImageStore`) at its size and field of view."""
    from raregal.core.gz2_schema import column, stem_of
    from raregal.paper_b.labels import TAGS

    rows = TAGS.set_index("name").loc[list(TABLE2_TAGS[task])]
    frac = sum(catalog[column(stem_of(r.task, r.answer), "fraction")].to_numpy(float)
               for r in rows.itertuples())
    frac = pd.Series(frac, index=catalog["dr7objid"].to_numpy(np.int64))
    pool = tags.loc[~tags["well_sampled"].to_numpy(bool), "dr7objid"].to_numpy(np.int64)
    pool = pool[frac.reindex(pool).fillna(0).to_numpy() >= min_fraction]
    if len(pool) == 0:
        return None, []
    pick = np.random.default_rng(seed).choice(pool, min(n, len(pool)), replace=False)
    batch = store.read(pick.tolist())
    return (batch.images, batch.ids.tolist()) if len(batch.ids) else (None, [])
