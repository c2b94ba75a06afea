"""Recovering Green Peas and Red Spirals from CVAE latents (paper A §3, Fig. 2, Fig. 3).

- :func:`svm_trials` — five stratified 80/20 splits of (validation normals + anomalies); SMOTE,
  StandardScaler and an RBF SVC with ``gamma='scale'`` in one imblearn Pipeline, so SMOTE only ever
  sees training rows. Per class: recovery = fraction of that class's test galaxies predicted as it;
  contamination = fraction of the *normal* test galaxies predicted as that class (the paper's "2 %
  contamination from non-anomalous galaxies" with 2–3 Green Peas per test set can only be this rate).
- :func:`linear_boundary_2d` — the 2-D linear-SVM decision regions drawn in Fig. 2 (after SMOTE).
- :func:`nearest_normals` / :func:`shared_neighbours` — Fig. 3: the 10 normal galaxies nearest each
  anomaly (Minkowski metric, scikit-learn NearestNeighbors) and those shared by several anomalies.

The figures themselves are drawn by :mod:`raregal.paper_a.figures`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from raregal.paper_a import values

NORMAL = "normal"
ANOMALY_CLASSES = ("red_spiral", "green_pea")


def _smote(y, seed: int) -> SMOTE:
    """SMOTE with k ≤ (smallest class in training − 1), so a class of a few galaxies still works."""
    smallest = int(pd.Series(y).value_counts().min())
    if smallest < 2:
        raise ValueError(f"a class has {smallest} training galaxy; SMOTE needs at least 2 per class")
    return SMOTE(k_neighbors=min(5, smallest - 1), random_state=seed)


def rbf_pipeline(y_train, seed: int = 0) -> Pipeline:
    """SMOTE → StandardScaler → RBF SVC (γ = 'scale'), the §3 classifier; imblearn applies SMOTE in
    ``fit`` only, so the rows it resamples are the training rows of a trial and never its test rows."""
    return Pipeline([("smote", _smote(y_train, seed)), ("scale", StandardScaler()),
                     ("svm", SVC(kernel="rbf", gamma="scale"))])


def svm_trials(X, labels, n_trials: int = 5, test_size: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """One row per (trial, anomaly class): recovery, contamination, test counts."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(labels).astype(str)
    if len(X) != len(y):
        raise ValueError(f"{len(X)} latent rows but {len(y)} labels")
    classes = [c for c in ANOMALY_CLASSES if c in set(y)]
    if NORMAL not in set(y) or not classes:
        raise ValueError(f"need '{NORMAL}' rows and at least one of {ANOMALY_CLASSES}; got {sorted(set(y))}")
    splitter = StratifiedShuffleSplit(n_splits=n_trials, test_size=test_size, random_state=seed)
    rows = []
    for trial, (tr, te) in enumerate(splitter.split(X, y)):
        clf = rbf_pipeline(y[tr], seed + trial).fit(X[tr], y[tr])
        pred = clf.predict(X[te])
        normal = y[te] == NORMAL
        for c in classes:
            is_c = y[te] == c
            rows.append({"trial": trial, "class": c, "recovery": float((pred[is_c] == c).mean()),
                         "contamination": float((pred[normal] == c).mean()),
                         "n_test": int(is_c.sum()), "n_test_normal": int(normal.sum()),
                         "n_train": int((y[tr] == c).sum())})
    return pd.DataFrame(rows)


def svm_table_rows(trials: pd.DataFrame, method: str) -> pd.DataFrame:
    """Long-format rows (percent): mean over trials in ``ours``, std beside, paper values from the text."""
    rows = []
    for c, g in trials.groupby("class", sort=False):
        paper = values.PAPER_SVM.get((method, c), (np.nan, np.nan, np.nan))
        for q, pv, pstd in (("recovery", paper[0], paper[1]), ("contamination", paper[2], np.nan)):
            note = f"{len(g)} trials; n = test galaxies summed over trials"
            if np.isfinite(pstd):
                note += f"; paper ± {pstd:g}"
            rows.append({"method": method, "class": c, "quantity": f"{q} [%]", "ours": 100 * g[q].mean(),
                         "paper": pv, "std": 100 * g[q].std(ddof=0), "n": int(g.n_test.sum()), "note": note})
    return pd.DataFrame(rows)


def linear_boundary_2d(X2, labels, seed: int = 0) -> Pipeline:
    """SMOTE → StandardScaler → linear SVC on two latents (Fig. 2 decision regions)."""
    y = np.asarray(labels).astype(str)
    return Pipeline([("smote", _smote(y, seed)), ("scale", StandardScaler()),
                     ("svm", SVC(kernel="linear"))]).fit(np.asarray(X2, dtype=np.float64), y)


def decision_grid(clf: Pipeline, xlim, ylim, n: int = 200):
    """(xx, yy, class index grid) for contour plots; class order = ``clf.classes_``."""
    xx, yy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    pred = clf.predict(np.c_[xx.ravel(), yy.ravel()])
    index = {c: i for i, c in enumerate(clf.classes_)}
    return xx, yy, np.vectorize(index.get)(pred).reshape(xx.shape)


def nearest_normals(lat_anomalies, lat_normals, k: int = 10, p: float = 2.0):
    """(distances, indices into ``lat_normals``), each (n_anomalies, k); Minkowski metric of order p."""
    nn = NearestNeighbors(n_neighbors=k, metric="minkowski", p=p).fit(np.asarray(lat_normals))
    return nn.kneighbors(np.asarray(lat_anomalies))


def shared_neighbours(indices, distances, anomaly_class) -> pd.DataFrame:
    """Per class, each normal galaxy found among the k nearest of ≥1 anomaly: how many, how near.

    Sorted by class, number of anomalies matched (descending), then mean distance.
    """
    cls = np.repeat(np.asarray(anomaly_class), np.asarray(indices).shape[1])
    df = pd.DataFrame({"class": cls, "normal": np.asarray(indices).ravel(),
                       "distance": np.asarray(distances).ravel()})
    out = df.groupby(["class", "normal"]).agg(n_anomalies=("distance", "size"),
                                              mean_distance=("distance", "mean")).reset_index()
    return out.sort_values(["class", "n_anomalies", "mean_distance"],
                           ascending=[True, False, True]).reset_index(drop=True)
