"""Ma et al. (2025) Table 3: known D-ETGs against random galaxies at 1 : 100, three arms.

Known D-ETGs (Kaviraj et al. 2012 in the paper) are the positives and random other galaxies the
negatives, 100 : 10,000; baseline vs focal vs augmented with synthetic D-ETGs
(:mod:`raregal.paper_b.classifiers.arms`), the same 90/10 (+10 % validation) split as Table 2.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from torch import nn

from raregal.paper_b import classifiers
from raregal.paper_b.classifiers.arms import not_run_rows
from raregal.paper_b.values import PAPER_TABLE3

TABLE3_RATIO = 0.01  # 100 positives : 10,000 negatives
TABLE3_KEYS = ("method", "quantity")
NO_KNOWN_LIST = ("needs the known D-ETG list (Kaviraj et al. 2012: data/raw/catalogs/detg_kaviraj12.*, "
                 "read by notebook 01)")


def table3_split(known: Any, n_negatives: int, seed: int, ratio: float = TABLE3_RATIO,
                 test_fraction: float = 0.1, val_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Known D-ETGs (bool per catalog row) as positives, ``n_negatives`` random other galaxies,
    ``ratio`` positives per negative; the same 90/10 (+10 % validation) split as Table 2."""
    return classifiers.split_task(known, n_negatives, int(round(n_negatives * ratio)), seed,
                                  test_fraction=test_fraction, val_fraction=val_fraction)


def run_table3(views: Any, known: Any, settings: classifiers.TrainSettings,
               make_model: Callable[[], classifiers.BinaryClassifier], n_negatives: int,
               seeds: Sequence[int], positive_ratio: float = TABLE3_RATIO, synthetic_views: Any = None,
               synthetic_note: str = "not run: no synthetic images",
               augment: nn.Module | None = None, setting: str = "detg.n_negatives",
               eligible: Any = None) -> pd.DataFrame:
    """Every seed × arm of Table 3 on ``views`` (row i ↔ ``known`` row i), as
    :func:`raregal.paper_b.classifiers.table2.run_table2` runs one task.

    Parameters
    ----------
    views : array (V, N, ...)
        The catalog's inputs to the arms.
    known : bool array (N,) or None
        Galaxies of the known D-ETG catalog: the positives. None (real data without the list):
        every arm is reported as not run, the note naming the list.
    settings, make_model, augment
        Training of each arm, as for Table 2.
    n_negatives : int
        Random other galaxies per split (Ma et al. 2025: 10,000).
    seeds : sequence of int
        One split and training per seed.
    positive_ratio : float
        Positives per negative (0.01 = 1 : 100).
    synthetic_views : array (V, M, ...), optional
        Synthetic D-ETGs for the augmented arm; without them that arm is reported as not run.
    synthetic_note : str
        Why there are no synthetic D-ETGs (the note of the not-run arm).
    setting : str
        The profile value behind ``n_negatives``, named when a split cannot be drawn.
    eligible : bool array (N,), optional
        Galaxies a split may draw (default all). On the mock, :func:`clean_negatives` keeps the true
        D-ETGs that the known list lacks out of the negatives.

    Returns
    -------
    DataFrame
        Long format per seed: ``method, quantity, ours, note`` (+ counts), ``task`` = "detg", ``seed``.
    """
    if known is None:
        return pd.concat([not_run_rows(f"not run: {NO_KNOWN_LIST}").assign(task="detg", seed=s)
                          for s in seeds], ignore_index=True)
    labels = pd.DataFrame({"detg": np.asarray(known, bool),
                           "eligible": True if eligible is None else np.asarray(eligible, bool)})
    return classifiers.run_table2(views, labels, settings, make_model, n_negatives, list(seeds),
                                  synthetic={"detg": synthetic_views} if synthetic_views is not None else {},
                                  augment=augment, tasks=["detg"],
                                  fractions={"detg": positive_ratio / (1 + positive_ratio)},
                                  synthetic_notes={"detg": synthetic_note}, setting=setting)


def clean_negatives(known: Any, truth: Any) -> np.ndarray | None:
    """Galaxies Table 3 may draw on the mock: the known D-ETGs and every galaxy that is truly not one.

    Why: the mock has 2 % D-ETGs, about 15 × the sky's share, and its known list holds only some of
    them; drawn at random, Table 3's 10,000 "other galaxies" would hold about as many unlisted true
    D-ETGs as there are known positives (≈ 12 in a 1,000-galaxy test split against 10 positives), and a
    classifier that finds them would be scored as wrong. ``truth`` None (real data): None, every galaxy
    eligible, as in Ma et al. (2025)."""
    if truth is None:
        return None
    known, truth = np.asarray(known, bool), np.asarray(truth, bool)
    if known.shape != truth.shape:
        raise ValueError(f"{known.shape} known flags but {truth.shape} truth flags")
    return known | ~truth


def table3_summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """``B-table3``: mean ± std over seeds per method and quantity, Table 3's value beside ours."""
    return classifiers.with_paper(classifiers.summarise_seeds(per_seed, TABLE3_KEYS), PAPER_TABLE3,
                                  TABLE3_KEYS)
