"""The three arms compared in Ma et al. (2025) Tables 2 and 3, on one split, and their summary.

``baseline`` (BCE), ``focal`` (focal loss for the class imbalance) and ``augmented`` (BCE with extra
*synthetic* positives from the fine-tuned diffusion model in the training set — the paper's method).
Scores are purity / completeness / F1 of the positive class in long format (``method, quantity,
ours``); an arm that cannot run is a row of NaN with a note, never left out or filled in.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from torch import nn

from raregal.paper_b.classifiers.model import BinaryClassifier, TrainSettings
from raregal.paper_b.classifiers.training import as_views, fit_arm, positive_metrics
from raregal.paper_b.values import QUANTITIES

METHODS = ("baseline", "focal", "augmented")


def run_arms(views: Any, labels: Any, split: dict[str, np.ndarray], settings: TrainSettings,
             make_model: Callable[[], BinaryClassifier], augment: nn.Module | None = None,
             synthetic_views: Any = None, methods: Sequence[str] = METHODS,
             missing_synthetic_note: str = "not run: no synthetic images") -> pd.DataFrame:
    """Baseline (BCE), focal and augmented (BCE + synthetic positives) on one split; test metrics in
    long format (``method, quantity, ours``). Without synthetic images the augmented arm is reported
    as not run (NaN with a note), never replaced by something else."""
    labels = np.asarray(labels, bool)
    v = as_views(views)
    rows = []
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        if method == "augmented" and synthetic_views is None:
            rows += [{"method": method, "quantity": q, "ours": np.nan, "note": missing_synthetic_note}
                     for q in QUANTITIES]
            continue
        s = replace(settings, loss="focal" if method == "focal" else "bce")
        arm = fit_arm(v, labels, split, s, make_model, augment,
                      synthetic_views if method == "augmented" else None)
        m = positive_metrics(labels[split["test"]], arm.predict(v[0, split["test"]]))
        n_syn = 0 if method != "augmented" else int(np.shape(synthetic_views)[1])
        rows += [{"method": method, "quantity": q, "ours": m[q], "threshold": arm.threshold,
                  "n_train": len(split["train"]), "n_synthetic": n_syn,
                  "n_test_pos": int(labels[split["test"]].sum()), "note": ""} for q in QUANTITIES]
    return pd.DataFrame(rows)


def not_run_rows(note: str, methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """Every method × quantity as NaN with ``note``: an experiment that could not be drawn."""
    return pd.DataFrame({"method": list(methods) * len(QUANTITIES),
                         "quantity": np.repeat(QUANTITIES, len(methods)).tolist(), "ours": np.nan,
                         "note": note})


def summarise_seeds(per_seed: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean ± std over seeds of ``ours`` per key; notes of not-run arms are kept."""
    g = per_seed.groupby(list(keys), sort=False)
    out = g["ours"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "ours", "count": "n"})
    out["n"] = g["ours"].count().values  # seeds that produced a number
    out["note"] = g["note"].agg(lambda s: "; ".join(sorted({x for x in s if x}))).values
    return out


def with_paper(summary: pd.DataFrame, paper: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Put the published value beside ours (long format: keys, ours, paper, extras)."""
    out = summary.merge(paper, on=list(keys), how="left")
    front = [*keys, "ours", "paper"]
    return out[front + [c for c in out.columns if c not in front]]
