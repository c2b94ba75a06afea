"""What the SimCLR embedding has learned: linear probes and the cosine geometry of classes.

Ma et al. (2025) report no probe number; these tables show that the encoder behind realism and
diversity (notebook 10) separates morphologies better than a random-init encoder of the same shape.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

# One morphology class per galaxy for Fig. A2 colours and the multi-class probe: the first of these
# tags (raregal.paper_b.labels names) that the galaxy carries, rare and specific features first.
MORPHOLOGY_ORDER = ("merger", "ring", "dust_lane", "edge_on", "bar", "spiral", "cigar_shaped",
                    "in_between_round", "completely_round")
# Binary probe tasks: the classification targets of Ma et al. (2025) §4.2 plus smoothness.
PROBE_TASKS = {"spiral": ("spiral",), "edge-on": ("edge_on",), "bar": ("bar",),
               "obvious bulge": ("bulge_obvious", "bulge_dominant"),
               "smooth": ("smooth", "completely_round", "in_between_round", "cigar_shaped")}
MIN_HELD_OUT = 20  # well-sampled galaxies SimCLR must not train on, for the probe and Fig. A2
HELD_OUT_SHARE = 0.1  # share of the well-sampled galaxies kept out when the draw leaves too few


def training_sample(ids: Any, well_sampled: Any, n_train: int | None, rng: np.random.Generator,
                    min_held_out: int = MIN_HELD_OUT) -> tuple[np.ndarray, str]:
    """SimCLR's training galaxies: ``n_train`` drawn at random from ``ids`` (all when None), leaving
    at least ``min_held_out`` well-sampled galaxies unseen for the linear probe and Fig. A2.

    When the plain draw leaves fewer (a sample not much larger than ``simclr.n_train``), the larger
    of ``min_held_out`` and 10 % of the well-sampled galaxies is kept out first and SimCLR trains on
    at most the rest; ``note`` says so ('' when the plain draw was used). Fewer well-sampled galaxies
    than ``min_held_out`` in all is an error naming the sample size to raise.

    Returns
    -------
    (train_ids, note)
        Sorted ids of the training sample and what was scaled.
    """
    ids = np.asarray(ids)
    well = np.asarray(well_sampled, bool)
    n_well = int(well.sum())
    if n_well < min_held_out:
        raise ValueError(f"the SimCLR linear probe and Fig. A2 need {min_held_out} well-sampled galaxies "
                         f"outside the training sample, but the catalog has {n_well} well-sampled of "
                         f"{len(ids)}: use a larger sample (survey_b.n_galaxies)")
    n_use = len(ids) if n_train is None else min(n_train, len(ids))
    train = np.sort(rng.choice(ids, n_use, replace=False))
    n_left = n_well - int(np.isin(ids[well], train).sum())
    if n_left >= min_held_out:
        return train, ""
    held = rng.choice(ids[well], max(min_held_out, int(np.ceil(HELD_OUT_SHARE * n_well))), replace=False)
    pool = ids[~np.isin(ids, held)]
    train = np.sort(rng.choice(pool, min(n_use, len(pool)), replace=False))
    return train, (f"simclr.n_train = {n_train} of {len(ids)} galaxies left {n_left} well-sampled ones "
                   f"for the probe (need {min_held_out}): {len(held)} kept out, SimCLR trains on "
                   f"{len(train)}")


def linear_probe(features: np.ndarray, labels: Any, test_fraction: float = 0.3,
                 seed: int = 0) -> dict[str, Any]:
    """Held-out accuracy of a logistic regression on frozen features (the SimCLR linear probe).

    Returns the fitted ``model`` (standardise + logistic, balanced class weights), ``accuracy``,
    ``balanced_accuracy``, ``chance`` (majority-class share of the test split), ``n_train``, ``n_test``.
    Labels with fewer than 2 classes, or a class with < 2 members, are refused by name.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"a probe needs at least 2 classes, got only {classes.tolist()}")
    if counts.min() < 2:
        raise ValueError(f"class(es) {classes[counts < 2].tolist()} have fewer than 2 examples")
    x_tr, x_te, y_tr, y_te = train_test_split(features, labels, test_size=test_fraction,
                                              random_state=seed, stratify=labels)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    with threadpool_limits(1):  # small fits: BLAS threads only spin-wait on a shared 2-core machine
        model.fit(x_tr, y_tr)
    pred = model.predict(x_te)
    _, test_counts = np.unique(y_te, return_counts=True)
    return {"model": model, "accuracy": float(accuracy_score(y_te, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_te, pred)),
            "chance": float(test_counts.max() / len(y_te)), "n_train": len(y_tr), "n_test": len(y_te)}


def morphology_class(tag_table: pd.DataFrame, order: Sequence[str] = MORPHOLOGY_ORDER) -> np.ndarray:
    """Per galaxy, the first tag of ``order`` it carries ('' when none) from ``tag_<name>`` columns."""
    missing = [t for t in order if f"tag_{t}" not in tag_table.columns]
    if missing:
        raise KeyError(f"tag table lacks columns {['tag_' + t for t in missing]}")
    out = np.full(len(tag_table), "", dtype=object)
    for tag in reversed(order):
        out[tag_table[f"tag_{tag}"].to_numpy(bool)] = tag
    return out


def probe_labels(tag_table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Labels for the probes: the morphology class (multi-class) and the binary :data:`PROBE_TASKS`."""
    labels = {"morphology class": morphology_class(tag_table)}
    for task, tags in PROBE_TASKS.items():
        labels[task] = tag_table[[f"tag_{t}" for t in tags]].to_numpy(bool).any(axis=1)
    return labels


def probe_table(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], seed: int = 0,
                min_class: int = 5) -> pd.DataFrame:
    """Long table of held-out linear-probe accuracy per (task, encoder).

    ``features``: encoder name → (N, d), rows aligned with the label arrays. Rows labelled '' and
    classes with fewer than ``min_class`` galaxies are left out and named in ``note``; a task left
    with fewer than 2 classes gets NaN and the reason, never a silent gap.
    """
    rows = []
    for task, y in labels.items():
        y = np.asarray(y)
        keep = (y != "") if y.dtype == object else np.ones(len(y), bool)
        classes, counts = np.unique(y[keep], return_counts=True)
        rare = classes[counts < min_class]
        keep &= ~np.isin(y, rare)
        note = f"left out (< {min_class} galaxies): {', '.join(map(str, rare))}; " if len(rare) else ""
        for enc, f in features.items():
            if len(np.unique(y[keep])) < 2:
                rows.append({"task": task, "encoder": enc, "quantity": "accuracy", "ours": np.nan,
                             "paper": np.nan, "n": 0, "note": note + "skipped: fewer than 2 classes"})
                continue
            res = linear_probe(f[keep], y[keep], seed=seed)
            for q in ("accuracy", "balanced_accuracy"):
                rows.append({"task": task, "encoder": enc, "quantity": q.replace("_", " "),
                             "ours": res[q], "paper": np.nan, "n": res["n_test"],
                             "note": note + f"chance (majority) {res['chance']:.3f}; "
                                            f"{len(np.unique(y[keep]))} classes"})
            sep = cosine_separation(f[keep], y[keep])
            rows.append({"task": task, "encoder": enc, "quantity": "cosine gap (within - between)",
                         "ours": sep["gap"], "paper": np.nan, "n": int(keep.sum()),
                         "note": note + f"mean cosine within {sep['within']:.3f}, "
                                        f"between {sep['between']:.3f}"})
    return pd.DataFrame(rows)


def cosine_separation(features: np.ndarray, labels: Any) -> dict[str, float]:
    """Mean cosine similarity within classes and between classes ('' labels left out).

    Realism and diversity (notebook 10) are cosine similarities, so what matters for them is this
    geometry, not only linear separability: an untrained ResNet maps every galaxy to nearly the same
    direction (cosine ≈ 0.99), leaving no room between a good and a bad match.
    """
    from sklearn.metrics.pairwise import cosine_similarity

    labels = np.asarray(labels)
    keep = labels != "" if labels.dtype == object else np.ones(len(labels), bool)
    f, y = np.asarray(features, np.float64)[keep], labels[keep]
    if len(np.unique(y)) < 2:
        raise ValueError("cosine separation needs at least 2 classes")
    sim = cosine_similarity(f)
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    within, between = float(sim[same & off].mean()), float(sim[~same].mean())
    return {"within": within, "between": between, "gap": within - between}


def untrained_floor(settings: Any, store: Any, probe_ids: np.ndarray, labels: np.ndarray, n_draws: int,
                    probe_seed: int = 0, min_class: int = 5) -> np.ndarray:
    """Probe balanced accuracy of ``n_draws`` untrained encoders (init seeds ``settings.seed`` onwards).

    Why several: on the mock the floor depends on the draw of the random weights far more than on the
    probe's split (eight draws: 0.52–0.65 balanced accuracy on the 9 morphology classes, split noise
    ≈0.016), so a gain is judged against their mean and spread, not one draw. Classes with fewer than
    ``min_class`` galaxies are left out, as :func:`probe_table` leaves them out."""
    import dataclasses

    from raregal.paper_b.simclr.embed import embed_stored
    from raregal.paper_b.simclr.model import untrained_encoder

    labels = np.asarray(labels)
    keep = labels != ""
    classes, counts = np.unique(labels[keep], return_counts=True)
    keep &= ~np.isin(labels, classes[counts < min_class])  # as probe_table leaves rare classes out
    out = []
    for k in range(n_draws):
        enc = untrained_encoder(dataclasses.replace(settings, pretrained=None, seed=settings.seed + k))
        feats = embed_stored(enc, store, probe_ids)[1]
        out.append(linear_probe(feats[keep], labels[keep], seed=probe_seed)["balanced_accuracy"])
    return np.array(out)
