"""The Galaxy Zoo 2 decision tree and the Hart et al. (2016) vote-catalog schema.

Why here, below the mock, the real fetch and paper B: all three read or write GZ2 vote catalogs, so the
tree (Willett et al. 2013 Table 2), the well-answered thresholds (Willett et al. 2013 Table 3, N ≥ 20
column), the column names and the file names are shared data, not paper-B code.

``TREE``        one row per answer with its task, Hart16 column stem and the task it leads to.
``THRESHOLDS``  per task, the answer of an earlier task whose vote fraction must exceed a value for the
                task to count as well answered. The chain is followed up the tree, so a bar needs
                p(features) > 0.430 *and* p(not edge-on) > 0.715.

Functions: :func:`column` / :func:`stem_of` (Hart16 names), :func:`validate_catalog` (columns checked,
bad counts dropped and counted), :func:`task_well_answered`, and the file readers :func:`read_catalog`
/ :func:`read_known_detg` (names in ``CATALOG_FILE``, ``KNOWN_DETG_FILE``, ``IMAGES_DIR``, ``TAGS_FILE``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

MIN_VOTES = 20  # votes on the task itself (Ma et al. 2025 §3.1: "greater than 20"; Willett: N >= 20)
MIN_DEBIASED = 0.8  # debiased vote fraction of the answer (Ma et al. 2025 §3.1)
CHAIN_FRACTION = "fraction"  # which Hart16 fraction the preceding-task thresholds apply to
COUNT_KINDS = ("count", "weight", "fraction", "weighted_fraction", "debiased", "flag")
ID_COLUMNS = ("dr7objid", "ra", "dec", "total_classifications", "total_votes")

# --- the decision tree (task, task name, answer id, answer name, next task; "" = end) -------------
_TREE_ROWS = [
    ("t01", "smooth_or_features", "a01", "smooth", "t07"),
    ("t01", "smooth_or_features", "a02", "features_or_disk", "t02"),
    ("t01", "smooth_or_features", "a03", "star_or_artifact", ""),
    ("t02", "edgeon", "a04", "yes", "t09"),
    ("t02", "edgeon", "a05", "no", "t03"),
    ("t03", "bar", "a06", "bar", "t04"),
    ("t03", "bar", "a07", "no_bar", "t04"),
    ("t04", "spiral", "a08", "spiral", "t10"),
    ("t04", "spiral", "a09", "no_spiral", "t05"),
    ("t05", "bulge_prominence", "a10", "no_bulge", "t06"),
    ("t05", "bulge_prominence", "a11", "just_noticeable", "t06"),
    ("t05", "bulge_prominence", "a12", "obvious", "t06"),
    ("t05", "bulge_prominence", "a13", "dominant", "t06"),
    ("t06", "odd", "a14", "yes", "t08"),
    ("t06", "odd", "a15", "no", ""),
    ("t07", "rounded", "a16", "completely_round", "t06"),
    ("t07", "rounded", "a17", "in_between", "t06"),
    ("t07", "rounded", "a18", "cigar_shaped", "t06"),
    ("t08", "odd_feature", "a19", "ring", ""),
    ("t08", "odd_feature", "a20", "lens_or_arc", ""),
    ("t08", "odd_feature", "a21", "disturbed", ""),
    ("t08", "odd_feature", "a22", "irregular", ""),
    ("t08", "odd_feature", "a23", "other", ""),
    ("t08", "odd_feature", "a24", "merger", ""),
    ("t08", "odd_feature", "a38", "dust_lane", ""),
    ("t09", "bulge_shape", "a25", "rounded", "t06"),
    ("t09", "bulge_shape", "a26", "boxy", "t06"),
    ("t09", "bulge_shape", "a27", "no_bulge", "t06"),
    ("t10", "arms_winding", "a28", "tight", "t11"),
    ("t10", "arms_winding", "a29", "medium", "t11"),
    ("t10", "arms_winding", "a30", "loose", "t11"),
    ("t11", "arms_number", "a31", "1", "t05"),
    ("t11", "arms_number", "a32", "2", "t05"),
    ("t11", "arms_number", "a33", "3", "t05"),
    ("t11", "arms_number", "a34", "4", "t05"),
    ("t11", "arms_number", "a36", "more_than_4", "t05"),
    ("t11", "arms_number", "a37", "cant_tell", "t05"),
]
TREE = pd.DataFrame(_TREE_ROWS, columns=["task", "task_name", "answer", "answer_name", "next"])
TREE["stem"] = TREE.task + "_" + TREE.task_name + "_" + TREE.answer + "_" + TREE.answer_name
TASKS = list(dict.fromkeys(TREE.task))

# --- Willett 2013 Table 3 (N >= 20 column): task -> (earlier task, its answer, fraction must exceed)
THRESHOLDS = pd.DataFrame([
    ("t02", "t01", "a02", 0.430),
    ("t03", "t02", "a05", 0.715),
    ("t04", "t02", "a05", 0.715),
    ("t05", "t02", "a05", 0.715),
    ("t07", "t01", "a01", 0.469),
    ("t08", "t06", "a14", 0.420),
    ("t09", "t02", "a04", 0.602),
    ("t10", "t04", "a08", 0.619),
    ("t11", "t04", "a08", 0.619),
], columns=["task", "parent_task", "parent_answer", "threshold"]).set_index("task")


class CatalogError(ValueError):
    """The vote catalog is missing columns or cannot be labelled."""


def column(stem: str, kind: str) -> str:
    """Hart16 column name, e.g. ``column(stem_of('t01', 'a01'), 'debiased')``."""
    return f"{stem}_{kind}"


def stem_of(task: str, answer: str) -> str:
    """Hart16 column stem of an answer, e.g. ``t01_smooth_or_features_a01_smooth``; unknown pairs raise."""
    row = TREE[(TREE.task == task) & (TREE.answer == answer)]
    if row.empty:
        raise KeyError(f"no answer {answer} in task {task}")
    return row.stem.iloc[0]


def required_columns(kinds: Sequence[str] = ("count", "fraction", "debiased")) -> list[str]:
    """The Hart16 columns labelling reads: ``dr7objid`` and every answer's ``kinds``."""
    return ["dr7objid"] + [column(s, k) for s in TREE.stem for k in kinds]


def task_votes(catalog: pd.DataFrame) -> pd.DataFrame:
    """Votes per task (sum of its answer counts; Hart16 has no per-task total), one column per task."""
    return pd.DataFrame({t: catalog[[column(s, "count") for s in TREE.stem[TREE.task == t]]].sum(axis=1)
                         for t in TASKS}, index=catalog.index)


def validate_catalog(catalog: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the Hart16 columns, drop rows with NaN or negative counts / fractions outside [0, 1].

    Returns ``(kept, drops)`` where ``drops`` has one row per dropped galaxy (``dr7objid, reason``).
    Missing columns raise :class:`CatalogError` naming them.
    """
    missing = [c for c in required_columns() if c not in catalog.columns]
    if missing:
        shown = ", ".join(missing[:8]) + (f" … ({len(missing)} in all)" if len(missing) > 8 else "")
        raise CatalogError(f"GZ2 catalog lacks Hart16 columns: {shown}")
    counts = catalog[[column(s, "count") for s in TREE.stem]]
    fracs = catalog[[column(s, k) for s in TREE.stem for k in ("fraction", "debiased")]]
    reasons = pd.Series("", index=catalog.index, dtype=object)
    reasons[catalog.dr7objid.isna()] = "missing dr7objid"
    reasons[(reasons == "") & counts.isna().any(axis=1)] = "NaN vote count"
    reasons[(reasons == "") & (counts < 0).any(axis=1)] = "negative vote count"
    reasons[(reasons == "") & fracs.isna().any(axis=1)] = "NaN vote fraction"
    bad_frac = ((fracs < -1e-6) | (fracs > 1 + 1e-6)).any(axis=1)
    reasons[(reasons == "") & bad_frac] = "vote fraction outside [0, 1]"
    dup = catalog.dr7objid.duplicated(keep="first")
    reasons[(reasons == "") & dup] = "duplicate dr7objid"
    bad = reasons != ""
    drops = pd.DataFrame({"dr7objid": catalog.dr7objid[bad].to_numpy(), "reason": reasons[bad].to_numpy()})
    kept = catalog.loc[~bad].copy()
    kept["dr7objid"] = kept.dr7objid.astype("int64")
    return kept.reset_index(drop=True), drops


def task_well_answered(catalog: pd.DataFrame, min_votes: int = MIN_VOTES,
                       chain_fraction: str = CHAIN_FRACTION) -> pd.DataFrame:
    """Per task, whether the threshold chain up the tree holds and the task has ≥ ``min_votes`` votes."""
    votes = task_votes(catalog)
    chain: dict[str, pd.Series] = {}
    for t in TASKS:  # tree order: a task's parents come before it
        ok = pd.Series(True, index=catalog.index)
        if t in THRESHOLDS.index:
            th = THRESHOLDS.loc[t]
            p = catalog[column(stem_of(th.parent_task, th.parent_answer), chain_fraction)]
            ok = chain.get(th.parent_task, ok) & (p > th.threshold)
        chain[t] = ok
    return pd.DataFrame({t: chain[t] & (votes[t] >= min_votes) for t in TASKS}, index=catalog.index)


# --- files
CATALOG_FILE = "gz2_hart16.csv.gz"  # in cfg.data_dir("interim", "gz2")
KNOWN_DETG_FILE = "detg_known.csv"  # dr7objid (+ ra, dec, z) of the known D-ETG catalog
IMAGES_DIR = "images"
TAGS_FILE = "tags.parquet"  # in cfg.data_dir("processed", "gz2")


def read_catalog(folder) -> pd.DataFrame:
    """``gz2_hart16.csv.gz`` (mock or real) from ``folder``; fails naming notebook 01 if absent."""
    from raregal.core.config import require

    return pd.read_csv(require(Path(folder) / CATALOG_FILE, made_by="01_fetch"))


def read_known_detg(folder) -> np.ndarray | None:
    """dr7objids of the known D-ETG catalog, or None when the folder has none (real data without it)."""
    path = Path(folder) / KNOWN_DETG_FILE
    if not path.exists():
        return None
    ids = pd.read_csv(path)
    if "dr7objid" not in ids.columns:
        raise CatalogError(f"{path} needs a dr7objid column; has {list(ids.columns)}")
    return ids.dr7objid.to_numpy(np.int64)
