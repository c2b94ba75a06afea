"""Ma et al. (2025) Table 2 on the GZ2 tags: the published values, the tasks, and the runner.

Four binary tasks (spiral, edge-on disk, bar, bulge), each with a fixed number of negatives and
positives at the task's share of GZ2; every task × seed × arm (:mod:`.arms`); the summary puts the
published value beside ours.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from torch import nn

from raregal.paper_b.classifiers.arms import (
    not_run_rows,
    run_arms,
    summarise_seeds,
    with_paper,
)
from raregal.paper_b.classifiers.model import BinaryClassifier, TrainSettings
from raregal.paper_b.classifiers.splits import n_positives_for, split_task
from raregal.paper_b.classifiers.training import as_views
from raregal.paper_b.values import PAPER_TABLE2

TABLE2_FRACTIONS = PAPER_TABLE2.drop_duplicates("task").set_index("task")["positive_fraction"].to_dict()

# Which well-sampled tags (raregal.paper_b.labels) make a positive for each Table 2 task. "bulge" is an
# obvious or dominant central bulge (the tag pair whose share matches the paper's 0.07).
TABLE2_TAGS = {"spiral": ("spiral",), "disk": ("edge_on",), "bar": ("bar",),
               "bulge": ("bulge_obvious", "bulge_dominant")}
TABLE2_KEYS = ("task", "method", "quantity")


def task_prompt(task: str) -> str:
    """The generation prompt for a task's synthetic positives: "sdss, " + the tags' prompt phrases."""
    from raregal.paper_b.labels import TAGS

    phrase = dict(zip(TAGS.name, TAGS.phrase))
    return "sdss, " + ", ".join(phrase[t] for t in TABLE2_TAGS[task])


def task_labels(tags: pd.DataFrame, tasks: Sequence[str] = tuple(TABLE2_TAGS)) -> pd.DataFrame:
    """``dr7objid``, one bool column per task, and ``eligible`` (well-sampled galaxies: the paper's
    high-confidence set, whose galaxies without the tag are the negatives)."""
    need = ["dr7objid", "well_sampled"] + [f"tag_{t}" for task in tasks for t in TABLE2_TAGS[task]]
    missing = [c for c in need if c not in tags.columns]
    if missing:
        raise ValueError(f"tags table lacks columns {missing}; it is made by notebook 07_gz2_labels")
    out = pd.DataFrame({"dr7objid": tags["dr7objid"].to_numpy(np.int64)})
    for task in tasks:
        out[task] = np.logical_or.reduce([tags[f"tag_{t}"].to_numpy(bool) for t in TABLE2_TAGS[task]])
    out["eligible"] = tags["well_sampled"].to_numpy(bool)
    return out


def run_table2(views: Any, labels: pd.DataFrame, settings: TrainSettings,
               make_model: Callable[[], BinaryClassifier], n_negatives: int, seeds: Sequence[int],
               synthetic: dict[str, Any] | None = None, augment: nn.Module | None = None,
               tasks: Sequence[str] = tuple(TABLE2_TAGS), fractions: dict[str, float] = TABLE2_FRACTIONS,
               synthetic_notes: dict[str, str] | None = None,
               setting: str = "n_negatives") -> pd.DataFrame:
    """Every task × seed × method on ``views`` (row i ↔ ``labels`` row i): fixed ``n_negatives``,
    positives at the paper's fraction. A task whose split cannot be drawn is reported (NaN + note).

    Parameters
    ----------
    views : array (V, N, ...)
        The arms' inputs (see :mod:`raregal.paper_b.classifiers.training`).
    labels : DataFrame
        One bool column per task and ``eligible`` (the galaxies a split may draw).
    settings : TrainSettings
        Training of each arm; its seed is replaced by each of ``seeds``.
    make_model : callable
        A fresh classifier per arm.
    n_negatives : int
        Negatives per task (Ma et al. 2025: 10,000).
    seeds : sequence of int
        One split and training per seed.
    synthetic : dict, optional
        Task → synthetic positive views ``(V, M, ...)`` for the augmented arm.
    augment : nn.Module, optional
        Per-batch augmentation (``finetune`` mode).
    tasks : sequence of str
        Columns of ``labels`` to run.
    fractions : dict
        Task → share of positives in the whole set (Table 2 column 2 by default).
    synthetic_notes : dict, optional
        Task → why the augmented arm did not run, when it has no synthetic views.
    setting : str
        The profile value behind ``n_negatives`` (``classifiers.n_negatives``), named in the note of
        a task whose split cannot be drawn.

    Returns
    -------
    DataFrame
        Long format: ``method, quantity, ours, note`` (+ training counts), ``task``, ``seed``.
    """
    v = as_views(views)
    if v.shape[1] != len(labels):
        raise ValueError(f"{v.shape[1]} view rows but {len(labels)} label rows")
    rows = []
    for task in tasks:
        n_pos = n_positives_for(n_negatives, fractions[task])
        syn = (synthetic or {}).get(task)
        for seed in seeds:
            try:
                split = split_task(labels[task].to_numpy(bool), n_negatives, n_pos, seed,
                                   eligible=labels["eligible"].to_numpy(bool), setting=setting)
            except ValueError as err:
                rows.append(not_run_rows(f"not run: {err}").assign(task=task, seed=seed))
                continue
            note = (synthetic_notes or {}).get(task, "not run: no synthetic images")
            df = run_arms(v, labels[task].to_numpy(bool), split, replace(settings, seed=seed),
                          make_model, augment, syn, missing_synthetic_note=note)
            rows.append(df.assign(task=task, seed=seed, n_positives=n_pos, n_negatives=n_negatives))
    return pd.concat(rows, ignore_index=True)


def table2_summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """``B-table2``: mean ± std over seeds per task, method and quantity, Table 2's value beside ours
    (NaN for a task or arm the paper does not report)."""
    return with_paper(summarise_seeds(per_seed, TABLE2_KEYS),
                      PAPER_TABLE2.drop(columns="positive_fraction"), TABLE2_KEYS)
