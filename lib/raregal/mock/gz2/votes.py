"""Simulated GZ2 volunteers: vote counts, fractions, weights and debiased fractions in the Hart et
al. (2016) column schema, and a short Hart16-style ``gz2_class``.

Why: Ma et al. (2025) §3.1 select "well-sampled" labels from the debiased GZ2 votes (Willett et al.
2013 Table 3 thresholds, > 20 votes, debiased fraction > 0.8), so the mock needs votes whose noise,
sampling and resolution bias behave like the real ones. Each volunteer walks the tree; a task's
answers are multinomial over the volunteers who reached it (so child counts equal the parent
answer's count). A volunteer gives the galaxy's true answer with probability 1 − ε, else one drawn
from the task's base rates; ε grows for hard galaxies (a per-galaxy ease factor) and for poorly
resolved ones. Poor resolution also shifts votes from features to smooth, spiral to no spiral, odd
to not odd, arm number to "can't tell"; the ``debiased`` columns remove that expected shift (Hart et
al. 2016 estimate it from the redshift trend; the mock knows it). Some galaxies get few
classifications, so deep tasks are not well sampled.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.core import gz2_schema

# volunteer confusion per task: base ε and where confused votes go (answers in TREE order)
VOTE_MODEL = {
    "t01": (0.60, [0.45, 0.50, 0.05]), "t02": (0.30, [0.3, 0.7]), "t03": (0.45, [0.3, 0.7]),
    "t04": (0.60, [0.6, 0.4]), "t05": (0.55, [0.15, 0.45, 0.3, 0.1]), "t06": (0.30, [0.3, 0.7]),
    "t07": (0.50, [0.35, 0.45, 0.2]), "t08": (0.35, [0.12, 0.05, 0.15, 0.1, 0.3, 0.15, 0.13]),
    "t09": (0.50, [0.45, 0.2, 0.35]), "t10": (0.55, [0.3, 0.4, 0.3]),
    "t11": (0.55, [0.1, 0.35, 0.15, 0.1, 0.08, 0.22]),
}
SMOOTH_EASE = 0.45  # ellipticals are easy: their smooth/roundness votes agree more (GZ2 clean samples)
# resolution bias: (task, from answer index, to answer index, strength × (1 − visibility))
VOTE_BIAS = [("t01", 1, 0, 0.45), ("t04", 0, 1, 0.35), ("t06", 0, 1, 0.30), ("t11", None, 5, 0.40)]


def _latent_answers(t: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The answer index a careful volunteer gives at each task, also off the galaxy's true path."""
    n = len(t)
    cls, q = t.true_class.to_numpy(), t.true_axis_ratio.to_numpy()
    smooth, edge = cls == "smooth", t.true_edge_on.to_numpy()
    shape_of_q = np.where(q > 0.8, 0, np.where(q > 0.45, 1, 2))
    rnd = {"completely_round": 0, "in_between": 1, "cigar_shaped": 2}
    roundness = np.array([rnd.get(r, -1) for r in t.true_roundness])
    prom = {"no_bulge": 0, "just_noticeable": 1, "obvious": 2, "dominant": 3}
    t05 = np.array([prom.get(p, 1) for p in t.true_bulge_prominence])
    shp = {"rounded": 0, "boxy": 1, "no_bulge": 2}
    t09 = np.array([shp.get(s, 0) for s in t.true_bulge_shape])
    t05 = np.where(edge, np.where(t09 == 2, 0, 2), t05)
    odd_names = list(gz2_schema.TREE.answer_name[gz2_schema.TREE.task == "t08"])
    t08 = np.array([odd_names.index(o) if o in odd_names else odd_names.index("other")
                    for o in t.true_odd_feature])
    wind = {"tight": 0, "medium": 1, "loose": 2}
    return {
        "t01": np.select([smooth, cls == "features"], [0, 1], 2),
        "t02": np.where(edge | (smooth & (roundness == 2) & (rng.random(n) < 0.5)), 0, 1),
        "t03": np.where(t.true_bar, 0, 1),
        "t04": np.where(t.true_spiral, 0, 1),
        "t05": t05,
        "t06": np.where(t.true_odd, 0, 1),
        "t07": np.where(smooth, roundness, shape_of_q),
        "t08": t08,
        "t09": np.where(edge, t09, np.where(t05 == 0, 2, 0)),
        "t10": np.array([wind.get(w, 1) for w in t.true_winding]),
        "t11": np.where(t.true_arms > 0, np.clip(t.true_arms, 1, 5) - 1, 5),
    }


def _answer_probabilities(truth: pd.DataFrame, rng: np.random.Generator
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per task (biased, unbiased) answer probabilities (n, k) of one volunteer."""
    n = len(truth)
    vis = truth.true_visibility.to_numpy()
    ease = rng.lognormal(0.3, 0.55, n)  # some galaxies are simply ambiguous
    smooth = truth.true_class.to_numpy() == "smooth"
    # arms are countable when their spacing (~π·0.5·R90/m) is a few PSF widths: many, tightly
    # packed arms on a small galaxy blur together, so volunteers guess
    m = np.maximum(truth.true_arms.to_numpy(), 1)
    spacing = np.pi * 0.5 * truth.true_r90_arcsec.to_numpy() / m
    arm_vis = np.minimum(vis, np.clip(spacing / (2.5 * truth.true_psf_fwhm_arcsec.to_numpy()) - 0.3, 0, 1))
    latent = _latent_answers(truth, rng)
    biased, clean = {}, {}
    for task, (eps0, base) in VOTE_MODEL.items():
        base = np.asarray(base, float)
        k = len(base)
        easy = np.where(smooth, SMOOTH_EASE, 1.0) if task in ("t01", "t07") else 1.0
        seen = arm_vis if task in ("t10", "t11") else vis
        eps = np.clip(eps0 * ease * easy * (1.6 - seen), 0.0, 0.95)[:, None]
        onehot = np.eye(k)[latent[task]]
        p = (1 - eps) * onehot + eps * base[None, :]
        clean[task] = p
        pb = p.copy()
        for btask, src, dst, strength in VOTE_BIAS:
            if btask != task:
                continue
            shift_from = np.arange(k) != dst if src is None else np.arange(k) == src
            moved = pb[:, shift_from] * (strength * (1 - vis))[:, None]
            pb[:, shift_from] -= moved
            pb[:, dst] += moved.sum(axis=1)
        biased[task] = pb
    return biased, clean


def simulate_votes(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Hart16 vote columns (count, weight, fraction, weighted_fraction, debiased, flag) per answer.

    Parameters
    ----------
    truth : the morphology and physics columns of one catalog (``true_*``, incl. visibility, R90
        [″] and PSF FWHM [″]).
    rng : the catalog's generator.

    Returns
    -------
    DataFrame: ``total_classifications``, ``total_votes``, then per answer the Hart16 columns
    (``gz2_schema.column(stem, kind)``); ``flag`` = well answered and debiased ≥ MIN_DEBIASED.
    """
    n = len(truth)
    biased, clean = _answer_probabilities(truth, rng)
    n_class = np.where(rng.random(n) < 0.15, rng.integers(8, 30, n), 25 + rng.poisson(20, n))
    counts = _walk_tree_votes(n_class, biased, rng)
    votes = _hart16_columns(counts, biased, clean, rng)
    votes.insert(0, "total_classifications", n_class.astype(np.int64))
    votes.insert(1, "total_votes", sum(counts[t].sum(axis=1) for t in gz2_schema.TASKS).astype(np.int64))
    return votes


def _walk_tree_votes(n_class: np.ndarray, biased: dict[str, np.ndarray],
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Vote counts (n, k) per task: each task's voters are those whose answer upstream led there."""
    tree = gz2_schema.TREE
    answers = {t: list(tree.answer[tree.task == t]) for t in gz2_schema.TASKS}
    counts: dict[str, np.ndarray] = {}
    reach = {"t01": n_class}

    def vote(task):
        c = rng.multinomial(reach[task], biased[task])
        counts[task] = c
        return {a: c[:, i] for i, a in enumerate(answers[task])}

    a = vote("t01")
    reach.update(t02=a["a02"], t07=a["a01"], t06=n_class - a["a03"])
    a = vote("t02")
    reach.update(t09=a["a04"], t03=a["a05"])
    vote("t03")
    reach["t04"] = reach["t03"]
    a = vote("t04")
    reach.update(t10=a["a08"], t05=reach["t04"])
    vote("t10")
    reach["t11"] = reach["t10"]
    for task in ("t05", "t07", "t09", "t11"):
        vote(task)
    reach["t08"] = vote("t06")["a14"]
    vote("t08")
    return counts


def _hart16_columns(counts: dict[str, np.ndarray], biased: dict[str, np.ndarray],
                    clean: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    """Per answer: count, weight (user weights 0.85–1), fraction, weighted fraction, debiased
    fraction (the expected resolution bias removed) and flag."""
    tree = gz2_schema.TREE
    n = len(next(iter(counts.values())))
    cols: dict[str, np.ndarray] = {}
    for task in gz2_schema.TASKS:
        c = counts[task].astype(np.int64)
        total = c.sum(axis=1, keepdims=True)
        safe = np.maximum(total, 1)
        frac = c / safe
        w = c * rng.uniform(0.85, 1.0, c.shape)
        wfrac = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
        deb = np.clip(frac + (clean[task] - biased[task]), 0.0, None)
        deb = np.where(total > 0, deb / np.maximum(deb.sum(axis=1, keepdims=True), 1e-9), 0.0)
        for i, stem in enumerate(tree.stem[tree.task == task]):
            cols[gz2_schema.column(stem, "count")] = c[:, i]
            cols[gz2_schema.column(stem, "weight")] = np.round(w[:, i], 3)
            cols[gz2_schema.column(stem, "fraction")] = np.round(frac[:, i], 4)
            cols[gz2_schema.column(stem, "weighted_fraction")] = np.round(wfrac[:, i], 4)
            cols[gz2_schema.column(stem, "debiased")] = np.round(deb[:, i], 4)
            cols[gz2_schema.column(stem, "flag")] = np.zeros(n, np.int64)
    votes = pd.DataFrame(cols)
    ok = gz2_schema.task_well_answered(votes)
    for row in tree.itertuples():
        deb = votes[gz2_schema.column(row.stem, "debiased")]
        flag = ok[row.task] & (deb >= gz2_schema.MIN_DEBIASED)
        votes[gz2_schema.column(row.stem, "flag")] = flag.astype(np.int64)
    return votes


def gz2_class_string(votes: pd.DataFrame) -> np.ndarray:
    """A short Hart16-style ``gz2_class`` from the majority votes (E[ric], Se[rbn], S[B][a-d][arms])."""
    def arg(task):
        stems = gz2_schema.TREE.stem[gz2_schema.TREE.task == task]
        return votes[[gz2_schema.column(s, "fraction") for s in stems]].to_numpy().argmax(axis=1)
    t01, t02, t03, t05, t07, t09, t11 = (arg(t) for t in ("t01", "t02", "t03", "t05", "t07", "t09", "t11"))
    spiral = votes[gz2_schema.column(gz2_schema.stem_of("t04", "a08"), "fraction")].to_numpy() > 0.5
    out = []
    for i in range(len(votes)):
        if t01[i] == 2:
            out.append("A")
        elif t01[i] == 0:
            out.append("E" + "ric"[t07[i]])
        elif t02[i] == 0:
            out.append("Se" + "rbn"[t09[i]])
        else:
            s = "S" + ("B" if t03[i] == 0 else "") + "dcba"[t05[i]]
            out.append(s + ("123+4?"[[0, 1, 2, 4, 3, 5][t11[i]]] if spiral[i] else ""))
    return np.array(out)
