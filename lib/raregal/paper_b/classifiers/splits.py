"""How many positives a task gets, and its stratified train / validation / test split.

Ma et al. (2025) §4.2: a fixed number of negatives, positives at the feature's share of GZ2
(Table 2), split 90/10 into training and test, with 10 % of training held out for validation.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def n_positives_for(n_negatives: int, positive_fraction: float) -> int:
    """Positives that give ``positive_fraction`` of the whole set next to ``n_negatives``."""
    if not 0 < positive_fraction < 1:
        raise ValueError(f"positive_fraction must be in (0, 1), got {positive_fraction}")
    return int(round(n_negatives * positive_fraction / (1 - positive_fraction)))


def split_task(positive: Any, n_negatives: int, n_positives: int, seed: int,
               eligible: Any = None, test_fraction: float = 0.1,
               val_fraction: float = 0.1, setting: str = "n_negatives") -> dict[str, np.ndarray]:
    """Draw ``n_positives`` positives and ``n_negatives`` negatives (row indices), then split them
    stratified: ``test_fraction`` for test, ``val_fraction`` of the rest for validation (paper: 90/10,
    and 10 % of training for validation). ``eligible`` (bool) limits which rows may be drawn.
    A split that cannot be drawn is a ValueError naming the sizes needed and found and ``setting``,
    the profile value that sets them (e.g. ``classifiers.n_negatives``)."""
    from sklearn.model_selection import train_test_split

    positive = np.asarray(positive, bool)
    ok = np.ones(len(positive), bool) if eligible is None else np.asarray(eligible, bool)
    pos_pool, neg_pool = np.flatnonzero(positive & ok), np.flatnonzero(~positive & ok)
    if len(pos_pool) < n_positives or len(neg_pool) < n_negatives:
        raise ValueError(f"not enough galaxies: need {n_positives} positives and {n_negatives} "
                         f"negatives, have {len(pos_pool)} and {len(neg_pool)} — lower {setting} "
                         f"in the profile or make a larger survey")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(pos_pool, n_positives, replace=False),
                          rng.choice(neg_pool, n_negatives, replace=False)])
    y = positive[idx]
    n_test = round(n_positives * test_fraction)
    n_val = round(n_positives * (1 - test_fraction) * val_fraction)
    if min(n_test, n_val) < 1:
        raise ValueError(f"{n_positives} positives leave {n_test} for test and {n_val} for validation;"
                         f" need at least one each — raise {setting} in the profile")
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction, stratify=positive[rest],
                                  random_state=seed + 1)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
