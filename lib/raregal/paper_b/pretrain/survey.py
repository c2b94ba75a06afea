"""The pretraining survey: a large mock GZ2 survey of its own, with the paper's exclusion applied.

Why: Ma et al. (2025) fine-tune bases pretrained on far more images than any run holds (SD-1.5;
ImageNet for SimCLR). Our bases are pretrained here, on a mock survey drawn with ``DATA_SEED`` — a
seed no run is allowed to use (loading a base into a run with that seed is refused), so no run's
galaxies are in a base. Every dust-lane early type is left out (§3.2): galaxies that ARE D-ETGs
(mock truth: an early type with a lane) and galaxies TAGGED as an early type with a dust lane (the
tags a run would see), so the models learn dust lanes only from disks and must combine them with
early types on their own. The counts of each exclusion go on the model card.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import gz2_schema
from raregal.core.images import read_images
from raregal.paper_b.labels import diffusion_excluded

DATA_SEED = 20250101  # the pretraining survey's seed; runs with this seed are refused
TRUE_DETG = "D-ETG (mock truth)"
TAGGED_DETG = "known D-ETG or early type with a dust-lane tag"
EXCLUSIONS = ("no D-ETG drawn (detg_fraction 0); galaxies that are early types with a dust lane (mock truth) "
              "and galaxies tagged as an early type with a dust lane left out (Ma et al. 2025 §3.2)")  # cards


@dataclass
class PretrainingSet:
    """Images (uint8 N×S×S×3), their ids and tag lists, and what was left out and why."""

    images: np.ndarray
    ids: list
    tags: list[list[str]]
    counts: dict[str, int]


def survey_name(n_galaxies: int, image_size: int, fov_r90: float, seed: int = DATA_SEED) -> str:
    """The survey's folder name: every base pretrained on the same survey shares one copy."""
    return f"survey-{seed}-{n_galaxies}-{image_size}px-{fov_r90:g}r90"


def write_pretraining_survey(root: Path | str, n_galaxies: int, image_size: int, fov_r90: float,
                             seed: int = DATA_SEED, log=print) -> Path:
    """Render the survey once under ``root/<survey_name>`` (skipped when its catalog exists); returns it.

    No D-ETGs are drawn (``detg_fraction=0``); the tag-based exclusion still runs, since volunteers'
    (mock) votes can tag an early type with a dust lane."""
    from raregal.mock.gz2 import write_survey

    out = Path(root) / survey_name(n_galaxies, image_size, fov_r90, seed)
    if (out / gz2_schema.CATALOG_FILE).is_file():
        return out
    write_survey(out, n_galaxies, image_size=image_size, seed=seed, fov_r90=fov_r90,
                 detg_fraction=0.0, log=log)
    return out


def pretraining_exclusions(tags: pd.DataFrame, catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """Galaxies the base may not train on, one row each: ``dr7objid``, ``reason``.

    Kept out: what the diffusion fine-tune keeps out (known D-ETGs, and early-type tags with the
    dust-lane tag: :func:`raregal.paper_b.labels.diffusion_excluded`, Ma et al. 2025 §3.2) and, on a
    mock survey, every galaxy whose truth is a D-ETG (``true_detg``), tagged or not.

    Parameters
    ----------
    tags : DataFrame
        ``tags.parquet`` rows (``dr7objid``, ``known_detg``, ``tag_*``).
    catalog : DataFrame, optional
        The GZ2 catalog; its ``true_detg`` column (mock only) is used when present.
    """
    ids = tags["dr7objid"].to_numpy(np.int64)
    tagged = diffusion_excluded(tags, tags["known_detg"] if "known_detg" in tags else None)
    true = np.zeros(len(ids), bool)
    if catalog is not None and "true_detg" in catalog:
        truth = catalog.set_index("dr7objid")["true_detg"].astype(bool)
        true = truth.reindex(ids, fill_value=False).to_numpy(bool)
    reason = np.where(true, TRUE_DETG, np.where(tagged, TAGGED_DETG, ""))
    out = pd.DataFrame({"dr7objid": ids, "reason": reason})
    return out[out.reason != ""].reset_index(drop=True)


def exclusion_counts(excluded: pd.DataFrame) -> dict[str, int]:
    """The model card's counts of :func:`pretraining_exclusions` rows, one per reason."""
    return {"excluded_true_detg": int((excluded.reason == TRUE_DETG).sum()),
            "excluded_tagged_early_type_with_dust_lane": int((excluded.reason == TAGGED_DETG).sum())}


def pretraining_rows(catalog: pd.DataFrame, tag_cap: int, seed: int = DATA_SEED
                     ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Tagged, capped rows a base trains on, and the exclusion counts.

    ``catalog``: a validated mock GZ2 catalog with its ``true_*`` columns. Rows: dr7objid and tags
    ("|"-joined), at most ``tag_cap`` per tag combination (Ma et al. 2025 §3.1)."""
    from raregal.paper_b import labels

    if "true_detg" not in catalog:
        raise ValueError("the pretraining catalog needs the mock truth column true_detg")
    table = labels.build_tag_table(catalog, tag_cap, seed)
    excluded = pretraining_exclusions(table, catalog)
    keep = table["in_diffusion_train"].to_numpy(bool) & ~table["dr7objid"].isin(excluded.dr7objid).to_numpy()
    counts = {"galaxies": len(table), "well_sampled": int(table["well_sampled"].sum()),
              **exclusion_counts(excluded), "kept": int(keep.sum())}
    rows = table.loc[keep, ["dr7objid", "tags"]].reset_index(drop=True)
    return rows, counts


def load_pretraining_set(survey_dir: Path | str, tag_cap: int, image_size: int,
                         max_images: int | None = None, seed: int = DATA_SEED) -> PretrainingSet:
    """The rows of :func:`pretraining_rows` read at ``image_size``; unreadable images are counted."""
    catalog, bad = gz2_schema.validate_catalog(gz2_schema.read_catalog(survey_dir))
    rows, counts = pretraining_rows(catalog, tag_cap, seed)
    if max_images is not None and len(rows) > max_images:
        rows = rows.sample(n=max_images, random_state=seed % 2**32).sort_index().reset_index(drop=True)
    batch = read_images(Path(survey_dir) / gz2_schema.IMAGES_DIR, rows["dr7objid"].tolist(), size=image_size)
    kept = rows.set_index("dr7objid").loc[batch.ids]
    counts.update({"invalid_catalog_rows": len(bad), "unreadable_images": len(batch.drops),
                   "images": len(batch.ids)})
    if len(batch.ids) == 0:
        raise ValueError(f"no pretraining image could be read from {survey_dir}")
    detg_ids = catalog.loc[catalog["true_detg"].to_numpy(bool), "dr7objid"]
    counts["detg_seen"] = int(pd.Index(batch.ids).isin(detg_ids).sum())
    return PretrainingSet(batch.images, list(batch.ids), [t.split("|") for t in kept["tags"]], counts)


def pretraining_images(survey_dir: Path, n_images: int, image_size: int, seed: int,
                       eligible=None):
    """``n_images`` random pretraining-survey galaxies at ``image_size``, never a D-ETG nor a galaxy
    tagged as an early type with a dust lane: (uint8 images, their rows of the tag table, counts).

    ``eligible``: optional function of the tag table → bool per row, further limiting the draw (the
    morphology base draws only galaxies that carry a morphology class); SimCLR needs no labels."""
    from raregal.paper_b import labels

    catalog, bad = gz2_schema.validate_catalog(gz2_schema.read_catalog(survey_dir))
    tags = labels.well_sampled_tags(catalog).reset_index(drop=True).assign(
        dr7objid=catalog["dr7objid"].to_numpy(np.int64))
    excluded = pretraining_exclusions(tags, catalog)
    ok = ~tags["dr7objid"].isin(excluded.dr7objid).to_numpy()
    if eligible is not None:
        ok &= np.asarray(eligible(tags), bool)
    pool = tags["dr7objid"].to_numpy(np.int64)[ok]
    pick = np.sort(np.random.default_rng(seed).choice(pool, size=min(n_images, len(pool)), replace=False))
    batch = read_images(Path(survey_dir) / gz2_schema.IMAGES_DIR, pick.tolist(), size=image_size)
    detg = set(catalog.loc[catalog["true_detg"].to_numpy(bool), "dr7objid"])
    counts = {"galaxies": len(catalog), "invalid_catalog_rows": len(bad), **exclusion_counts(excluded),
              "images": len(batch.ids), "unreadable_images": len(batch.drops),
              "detg_seen": int(sum(int(i) in detg for i in batch.ids))}
    rows = tags.set_index("dr7objid").loc[np.asarray(batch.ids, np.int64)].reset_index()
    return batch.images, rows, counts


def begin_base(recipe, work_dir: Path | str, log=print):
    """What a trunk base starts from: the commit of the code that runs (for its card), the profile's
    settings (a mock run at seed 0) and the pretraining survey at the profile's geometry, written once
    beside ``work_dir`` and shared by every base of that size. ``recipe`` has ``profile``,
    ``n_galaxies`` and ``data_seed``. Returns ``(cfg, survey_dir, commit)``."""
    from raregal.core import config, model_card

    commit = model_card.git_commit(config.repo_root())
    cfg = config.setup(recipe.profile, "mock", 0, make_dirs=False)
    geometry = cfg.survey_b
    survey_dir = write_pretraining_survey(Path(work_dir).parent, recipe.n_galaxies, geometry.image_size,
                                          geometry.fov_r90, recipe.data_seed, log=log)
    return cfg, survey_dir, commit


def base_card(summary: str, command: str, recipe, data: dict, training: dict, wall_time: dict,
              commit: str) -> dict:
    """A base's model card: what every base states (the command, the pretraining survey with its seed
    and counts, the exclusions, the recipe, hardware, wall time, commit) around its own ``data`` counts
    and ``training`` record. ``recipe`` is the base's recipe dataclass (with ``data_seed``)."""
    from dataclasses import asdict

    from raregal.core import model_card

    return {"summary": summary, "command": command,
            "training_data": {"survey": "mock GZ2 (raregal.mock.gz2)", "data_seed": recipe.data_seed, **data},
            "exclusions": EXCLUSIONS, "recipe": asdict(recipe), "training": training,
            "hardware": model_card.hardware(), "wall_time": wall_time, "git_commit": commit}
