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


def positive_fraction(ratio: float) -> float:
    """Share of positives in the whole set at ``ratio`` positives per negative (what Table 2's
    machinery takes): :func:`run_table3` and :func:`table3_split` draw the same number from it."""
    return ratio / (1 + ratio)


def table3_split(known: Any, n_negatives: int, seed: int, ratio: float = TABLE3_RATIO,
                 test_fraction: float = 0.1, val_fraction: float = 0.1, eligible: Any = None,
                 setting: str = "detg.n_negatives") -> dict[str, np.ndarray]:
    """Known D-ETGs (bool per catalog row) as positives, ``n_negatives`` random other galaxies
    (among ``eligible``), ``ratio`` positives per negative; the same 90/10 (+10 % validation) split as
    Table 2 — for a seed, the split :func:`run_table3` trains and scores on."""
    n_pos = classifiers.n_positives_for(n_negatives, positive_fraction(ratio))
    return classifiers.split_task(known, n_negatives, n_pos, seed, eligible=eligible,
                                  test_fraction=test_fraction, val_fraction=val_fraction, setting=setting)


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
                                  fractions={"detg": positive_fraction(positive_ratio)},
                                  synthetic_notes={"detg": synthetic_note}, setting=setting)


def run_table3_few_known(views: Any, known: Any, n_known: int | None, settings: classifiers.TrainSettings,
                         make_model: Callable[[], classifiers.BinaryClassifier], n_negatives: int,
                         seeds: Sequence[int], positive_ratio: float = TABLE3_RATIO,
                         synthetic_views: Any = None, synthetic_note: str = "not run: no synthetic images",
                         augment: nn.Module | None = None, eligible: Any = None) -> pd.DataFrame:
    """Table 3's splits (:func:`run_table3`'s, seed by seed) with only ``n_known`` known D-ETGs left
    in training, validation and test unchanged; baseline and augmented arms.

    Why: Ma et al. (2025) call Table 3 a few-shot task — their baseline reaches F1 0.43 from 100
    known D-ETGs. Where the known D-ETGs are easier (the mock's: 0.9 from 81), the benefit of the
    synthetic ones can only show with fewer known examples; this measures it on the same test
    galaxies. ``n_known`` None, no known list, or a split that cannot be drawn: rows with a note.
    """
    from dataclasses import replace

    methods = ("baseline", "augmented")
    if known is None or n_known is None:
        why = NO_KNOWN_LIST if known is None else "set detg.few_known in the profile"
        return pd.concat([not_run_rows(f"not run: {why}", methods).assign(task="detg", seed=s)
                          for s in seeds], ignore_index=True)
    known = np.asarray(known, bool)
    rows = []
    for seed in seeds:
        try:
            split = table3_split(known, n_negatives, seed, positive_ratio, eligible=eligible)
            train = split["train"]
            if n_known > known[train].sum():
                raise ValueError(f"detg.few_known = {n_known} but the split trains on {known[train].sum()}")
        except ValueError as err:
            rows.append(not_run_rows(f"not run: {err}", methods).assign(task="detg", seed=seed))
            continue
        kept = np.random.default_rng([seed, n_known]).choice(train[known[train]], n_known, replace=False)
        split["train"] = np.sort(np.concatenate([train[~known[train]], kept]))
        arms = classifiers.run_arms(views, known, split, replace(settings, seed=seed), make_model,
                                    augment, synthetic_views, methods=methods,
                                    missing_synthetic_note=synthetic_note)
        rows.append(arms.assign(task="detg", seed=seed, n_known_training=n_known))
    return pd.concat(rows, ignore_index=True)


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
    """``B-table3``: mean ± std over seeds per method and quantity, Table 3's value beside ours, and
    the F1 gain row of :func:`with_f1_gain` (the paper's gain, 0.66 − 0.43, beside it)."""
    out = classifiers.with_paper(classifiers.summarise_seeds(per_seed, TABLE3_KEYS), PAPER_TABLE3, TABLE3_KEYS)
    paper_f1 = PAPER_TABLE3[PAPER_TABLE3["quantity"] == "f1"].set_index("method")["paper"]
    return with_f1_gain(out, paper_f1["augmented"] - paper_f1["baseline"])


def few_known_summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """``B-table3-few-known``: mean ± std over seeds per arm and quantity (no published value: the
    paper has no such run), and the F1 gain row of :func:`with_f1_gain`."""
    out = classifiers.summarise_seeds(per_seed, TABLE3_KEYS)
    out.insert(3, "paper", np.nan)
    return with_f1_gain(out)


def with_f1_gain(summary: pd.DataFrame, paper_gain: float = np.nan) -> pd.DataFrame:
    """``summary`` with a row "augmented - baseline": the F1 gain of the augmented arm beside twice the
    standard error of the difference (the SEs of the two means in quadrature) and the largest gain the
    baseline leaves room for (1 − its F1). Why: a gain counts only above twice its standard error, and
    where 1 − baseline is below that, no synthetic image can show one. No row without two arms of ≥ 2
    splits each."""
    f1 = summary[summary["quantity"] == "f1"].set_index("method")
    arms = ["baseline", "augmented"]
    if not set(arms) <= set(f1.index) or not f1.loc[arms, "n"].min() > 1 or f1.loc[arms, "ours"].isna().any():
        return summary
    se = np.hypot(*(f1.loc[m, "std"] / np.sqrt(f1.loc[m, "n"]) for m in arms))
    room = 1 - f1.loc["baseline", "ours"]
    row = {"method": "augmented - baseline", "quantity": "f1",
           "ours": f1.loc["augmented", "ours"] - f1.loc["baseline", "ours"], "paper": paper_gain, "std": np.nan,
           "n": int(f1.loc[arms, "n"].min()),
           "note": f"2 x standard error of the difference: {2 * se:.3f}; largest possible gain "
                   f"(1 - baseline F1): {room:.3f}"}
    return pd.concat([summary, pd.DataFrame([row])], ignore_index=True)
