"""Realism, diversity and consistency of generated galaxy images (Ma et al. 2025 §4.1, eq. 1–6).

All three work per condition p (a prompt type, e.g. "edge-on galaxy") on embeddings f_φ (SimCLR,
:mod:`raregal.paper_b.simclr`) and are then averaged over the conditions:

- realism R^p (eq. 1): mean over generated images of the highest cosine similarity to any real image
  of condition p; R = mean_p R^p (eq. 2). Higher = closer to some real galaxy.
- diversity D^p (eq. 3): mean cosine similarity over all real × generated pairs of condition p;
  D = mean_p D^p (eq. 4). Lower = more varied (the paper's convention).
- consistency C^p (eq. 5): mean over generated images of the share of visual-question classifiers
  Q_i that answer as the prompt implies, the "yes" and the "no" questions of an image weighing alike
  (:func:`consistency`); C = mean_p C^p (eq. 6).

The functions here take the embeddings as given. Which embedding (the SimCLR projection, whitened on
the real reference galaxies, :mod:`raregal.paper_b.metric_space`) and why is decided where images are
scored, :mod:`raregal.paper_b.checkpoint_metrics`.

The visual questions are a data table (:data:`QUESTIONS`). Our classifiers are logistic heads (balanced
class weights) on the frozen SimCLR trunk features, fitted on real (mock) images with well-sampled
tags — cheap enough for the CPU budget — and each one's held-out accuracy is reported, since C is only
as good as they are.

A condition with no real images (or no generated ones) cannot be scored: it is returned in a
``skipped`` table by name, never averaged in silently. Reference points calibrate the numbers: held-out
real images scored as if generated (ceiling), and the same images with shuffled conditions or
pixel-shuffled "noise" images (floors).

Generating and scoring the images of every fine-tune checkpoint, with the results kept on disk, is
:mod:`raregal.paper_b.checkpoint_metrics`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics.pairwise import cosine_similarity

from raregal.paper_b.simclr import linear_probe

# The 11 binary visual questions (Ma et al. 2025 §4.1 use 11 and name spiral arms and rings; ours
# cover the features of their Table 1 prompts A–P). ``tags``: a galaxy answers "yes" when it carries any
# of them (tag names of raregal.paper_b.labels.TAGS).
QUESTIONS = pd.DataFrame([
    ("round", "completely round?", ("completely_round",)),
    ("in_between", "in-between round?", ("in_between_round",)),
    ("cigar", "cigar-shaped?", ("cigar_shaped",)),
    ("edge_on", "disk seen edge-on?", ("edge_on",)),
    ("spiral", "spiral arms?", ("spiral", "winding_tight", "winding_medium", "winding_loose", "arms_1",
                                "arms_2", "arms_3", "arms_4", "arms_more_than_4")),
    ("many_arms", "three or more arms?", ("arms_3", "arms_4", "arms_more_than_4")),
    ("bar", "bar through the centre?", ("bar",)),
    ("bulge", "obvious or dominant bulge?", ("bulge_obvious", "bulge_dominant")),
    ("ring", "ring?", ("ring",)),
    ("merger", "merger?", ("merger",)),
    ("dust_lane", "dust lane?", ("dust_lane",)),
], columns=["question", "text", "tags"])

REFERENCE_KINDS = ("ceiling: held-out real", "floor: shuffled prompts", "floor: pixel-shuffled noise")


# ---------------------------------------------------------------------------------------------
# eq. 1–6
# ---------------------------------------------------------------------------------------------
def _check_pair(real: np.ndarray, gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real, gen = np.asarray(real, dtype=np.float64), np.asarray(gen, dtype=np.float64)
    if real.ndim != 2 or gen.ndim != 2 or real.shape[1] != gen.shape[1]:
        raise ValueError(f"embeddings must be (N, d) with one d, got {real.shape} and {gen.shape}")
    if len(real) == 0 or len(gen) == 0:
        raise ValueError(f"need at least one real and one generated image, got {len(real)} and {len(gen)}")
    return real, gen


def realism(real: np.ndarray, gen: np.ndarray) -> float:
    """Eq. 1: mean over generated images of the max cosine similarity to any real image."""
    real, gen = _check_pair(real, gen)
    return float(cosine_similarity(gen, real).max(axis=1).mean())


def diversity(real: np.ndarray, gen: np.ndarray) -> float:
    """Eq. 3: mean cosine similarity over all real × generated pairs (lower = more varied)."""
    real, gen = _check_pair(real, gen)
    return float(cosine_similarity(gen, real).mean())


def consistency(answers: np.ndarray, expected: np.ndarray, balanced: bool = True) -> float:
    """Eq. 5: mean over images of the share of visual-question classifiers that answer as expected.

    Parameters
    ----------
    answers : (N, Q) bool
        Each classifier's answer per image.
    expected : (Q,) or (N, Q) in {0, 1, NaN}
        The answer the prompt implies; NaN = question not asked for that image, so Q_j counts only the
        asked questions. An image with no asked question is an error.
    balanced : bool
        Weigh the questions the prompt answers "yes" and those it answers "no" equally within each
        image (the mean of the two shares; the one share when only one kind is asked). Why: a prompt
        names 1–3 of the 11 features, so with plain shares (``balanced=False``, eq. 5 as printed)
        answering "no" to everything scores 8/11–10/11; balanced, it scores 0.5, as do random answers.

    Returns
    -------
    float
        C^p in [0, 1].
    """
    answers = np.asarray(answers, dtype=bool)
    if answers.ndim != 2 or len(answers) == 0:
        raise ValueError(f"answers must be (N, Q) with N >= 1, got {answers.shape}")
    expected = np.broadcast_to(np.asarray(expected, dtype=np.float64), answers.shape)
    asked = ~np.isnan(expected)
    per_image_q = asked.sum(axis=1)
    if (per_image_q == 0).any():
        raise ValueError(f"{int((per_image_q == 0).sum())} image(s) have no asked question")
    right = answers == (expected == 1)
    if not balanced:
        return float(((right & asked).sum(axis=1) / per_image_q).mean())
    shares = []
    for kind in (expected == 1, expected == 0):
        n = kind.sum(axis=1)
        shares.append(np.where(n > 0, (right & kind).sum(axis=1) / np.maximum(n, 1), np.nan))
    return float(np.nanmean(np.stack(shares), axis=0).mean())


def expected_answers(condition_tags: Mapping[str, Sequence[str]],
                     questions: pd.DataFrame = QUESTIONS) -> pd.DataFrame:
    """conditions × questions: 1 where the prompt names one of the question's tags, else 0.

    All questions are asked of every image (the paper's Q_j = 11): a prompt that does not name a
    feature implies its absence. Unknown tags raise, so a renamed tag cannot silently score 0.
    """
    known = {t for tags in questions["tags"] for t in tags}
    rows = {}
    for cond, tags in condition_tags.items():
        tags = set(tags)
        rows[cond] = [int(bool(tags & set(q))) for q in questions["tags"]]
        if not tags & known:
            raise ValueError(f"condition {cond!r}: none of its tags {sorted(tags)} is asked by any "
                             f"question ({sorted(known)})")
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(questions["question"]))


def tag_answers(tag_sets: Sequence[Sequence[str]], questions: pd.DataFrame = QUESTIONS) -> np.ndarray:
    """(N, Q) ground-truth answers of real images from their tag sets."""
    return np.array([[bool(set(ts) & set(q)) for q in questions["tags"]] for ts in tag_sets],
                    dtype=bool).reshape(len(tag_sets), len(questions))


# ---------------------------------------------------------------------------------------------
# the visual-question classifiers
# ---------------------------------------------------------------------------------------------
@dataclass
class QuestionClassifiers:
    """One logistic head per visual question on frozen features; ``report`` holds held-out accuracy."""

    questions: pd.DataFrame = field(default_factory=lambda: QUESTIONS.copy())
    models: dict[str, Any] = field(default_factory=dict)
    report: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def fit(cls, features: np.ndarray, truth: np.ndarray, questions: pd.DataFrame = QUESTIONS,
            min_positives: int = 10, test_fraction: float = 0.3, seed: int = 0) -> "QuestionClassifiers":
        """Fit each question's head on ``truth[:, q]``; refuse (by name) ones with < min_positives."""
        truth = np.asarray(truth, dtype=bool)
        if truth.shape != (len(features), len(questions)):
            raise ValueError(f"truth must be (N, {len(questions)}) for N={len(features)}, got {truth.shape}")
        out = cls(questions=questions.reset_index(drop=True))
        rows = []
        for q, name in enumerate(questions["question"]):
            pos = int(truth[:, q].sum())
            neg = len(truth) - pos
            row = {"question": name, "text": questions["text"].iloc[q], "n_pos": pos, "n_neg": neg}
            if min(pos, neg) < min_positives:
                rows.append({**row, "status": f"skipped: {min(pos, neg)} examples of the rarer answer "
                                              f"< {min_positives}"})
                continue
            probe = linear_probe(features, truth[:, q], test_fraction=test_fraction, seed=seed)
            out.models[name] = probe["model"]
            rows.append({**row, "status": "fitted", "accuracy": probe["accuracy"],
                         "balanced_accuracy": probe["balanced_accuracy"], "chance": probe["chance"],
                         "n_test": probe["n_test"]})
        out.report = pd.DataFrame(rows)
        return out

    @property
    def fitted(self) -> list[str]:
        return [q for q in self.questions["question"] if q in self.models]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, Q) answers; columns of unfitted questions are False (and must be masked: see mask)."""
        features = np.asarray(features, dtype=np.float64)
        out = np.zeros((len(features), len(self.questions)), dtype=bool)
        if len(features):
            for q, name in enumerate(self.questions["question"]):
                if name in self.models:
                    out[:, q] = self.models[name].predict(features).astype(bool)
        return out

    def mask(self, expected: pd.DataFrame) -> pd.DataFrame:
        """``expected`` with unfitted questions set to NaN (not asked), so they do not count in C."""
        out = expected.astype(float).copy()
        for name in self.questions["question"]:
            if name not in self.models and name in out.columns:
                out[name] = np.nan
        return out


# ---------------------------------------------------------------------------------------------
# per-condition evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(real_emb: np.ndarray, real_member: pd.DataFrame, gen_emb: np.ndarray,
             gen_condition: Sequence[str], gen_answers: np.ndarray,
             expected: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """R^p, D^p, C^p for every condition p (columns of ``real_member``).

    ``real_member`` (N_real × conditions, bool): which real images belong to each condition (a galaxy
    may belong to several). ``gen_condition``: the condition each generated image was made for.
    ``expected``: conditions × questions in {0, 1, NaN} (see :func:`expected_answers`).
    Returns (per-condition table, skipped table with a reason per condition).
    """
    gen_condition = np.asarray(gen_condition, dtype=object)
    if len(real_member) != len(real_emb):
        raise ValueError(f"real_member has {len(real_member)} rows for {len(real_emb)} real embeddings")
    if not (len(gen_emb) == len(gen_condition) == len(gen_answers)):
        raise ValueError(f"generated: {len(gen_emb)} embeddings, {len(gen_condition)} conditions, "
                         f"{len(gen_answers)} answer rows")
    unknown = sorted(set(gen_condition) - set(real_member.columns))
    if unknown:
        raise ValueError(f"generated images for unknown condition(s) {unknown}")
    missing_expected = sorted(set(real_member.columns) - set(expected.index))
    if missing_expected:
        raise ValueError(f"no expected answers for condition(s) {missing_expected}")
    rows, skipped = [], []
    for cond in real_member.columns:
        r = np.asarray(real_member[cond], dtype=bool)
        g = gen_condition == cond
        if not r.any() or not g.any():
            skipped.append({"condition": cond, "n_real": int(r.sum()), "n_gen": int(g.sum()),
                            "reason": "no real images" if not r.any() else "no generated images"})
            continue
        rows.append({"condition": cond, "realism": realism(real_emb[r], gen_emb[g]),
                     "diversity": diversity(real_emb[r], gen_emb[g]),
                     "consistency": consistency(gen_answers[g], expected.loc[cond].to_numpy(float)),
                     "n_real": int(r.sum()), "n_gen": int(g.sum())})
    per = pd.DataFrame(rows, columns=["condition", "realism", "diversity", "consistency", "n_real", "n_gen"])
    return per, pd.DataFrame(skipped, columns=["condition", "n_real", "n_gen", "reason"])


def summarise(per_condition: pd.DataFrame) -> dict[str, float]:
    """Eq. 2, 4, 6: unweighted means of R^p, D^p, C^p over the scored conditions."""
    if per_condition.empty:
        raise ValueError("no condition could be scored (see the skipped table)")
    return {m: float(per_condition[m].mean()) for m in ("realism", "diversity", "consistency")}


# ---------------------------------------------------------------------------------------------
# reference points
# ---------------------------------------------------------------------------------------------
def split_reference(real_member: pd.DataFrame, holdout_fraction: float = 0.3,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (reference, held-out) over the real images; held-out images play "generated"."""
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    rng = np.random.default_rng(seed)
    held = rng.random(len(real_member)) < holdout_fraction
    return ~held, held


def as_generated(member: pd.DataFrame, max_per_condition: int | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows and condition labels that score real images "as if generated" for each of their conditions.

    Returns (row index into ``member``, condition name) pairs; an image in 2 conditions appears twice.
    """
    rng = np.random.default_rng(seed)
    idx, cond = [], []
    for c in member.columns:
        rows = np.flatnonzero(np.asarray(member[c], dtype=bool))
        if max_per_condition is not None and len(rows) > max_per_condition:
            rows = np.sort(rng.choice(rows, max_per_condition, replace=False))
        idx.append(rows)
        cond.extend([c] * len(rows))
    return (np.concatenate(idx) if idx else np.zeros(0, int)), np.asarray(cond, dtype=object)


def shuffle_conditions(conditions: Sequence[str], seed: int = 0) -> np.ndarray:
    """Each image gets a condition other than its own (a derangement of the condition names)."""
    conditions = np.asarray(conditions, dtype=object)
    names = sorted(set(conditions))
    if len(names) < 2:
        raise ValueError(f"shuffling needs at least 2 conditions, got {names}")
    rng = np.random.default_rng(seed)
    shift = rng.integers(1, len(names), size=len(conditions))
    pos = np.array([names.index(c) for c in conditions])
    return np.asarray([names[i] for i in (pos + shift) % len(names)], dtype=object)


def pixel_shuffle(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each image's pixels permuted in space (colours kept, morphology destroyed): a noise floor."""
    images = np.asarray(images)
    n, c, h, w = images.shape
    rng = np.random.default_rng(seed)
    flat = images.reshape(n, c, h * w)
    perm = np.argsort(rng.random((n, h * w)), axis=1)
    return np.take_along_axis(flat, perm[:, None, :], axis=2).reshape(images.shape)


def pareto_front(realism_values: Sequence[float], diversity_values: Sequence[float]) -> np.ndarray:
    """Indices of the points no other point beats on both (higher realism, lower diversity),
    ordered by realism."""
    r = np.asarray(realism_values, dtype=float)
    d = np.asarray(diversity_values, dtype=float)
    keep = []
    for i in range(len(r)):
        dominated = np.any((r >= r[i]) & (d <= d[i]) & ((r > r[i]) | (d < d[i])))
        if not dominated:
            keep.append(i)
    keep = np.asarray(keep, dtype=int)
    return keep[np.argsort(r[keep], kind="stable")]


# ---------------------------------------------------------------------------------------------
# conditions from the prompt table, scored sets as long tables (notebook 10)
# ---------------------------------------------------------------------------------------------
# Prompt types for Fig. 5 colours: the first rule whose tags a prompt carries (rare features first).
PROMPT_TYPES = (("odd feature", ("merger", "ring", "dust_lane")), ("edge-on", ("edge_on",)),
                ("bar / spiral", ("bar", "spiral")),
                ("smooth", ("completely_round", "in_between_round", "cigar_shaped")))


def prompt_type(tags: Sequence[str]) -> str:
    """The Fig. 5 colour group of a prompt from its tags (first matching rule of PROMPT_TYPES)."""
    for name, rule in PROMPT_TYPES:
        if set(tags) & set(rule):
            return name
    return "other"


def condition_members(tag_table: pd.DataFrame, condition_tags: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """galaxies × conditions, True where a galaxy carries every tag of the condition's prompt."""
    out = {}
    for cond, tags in condition_tags.items():
        cols = [f"tag_{t}" for t in tags]
        missing = [c for c in cols if c not in tag_table.columns]
        if missing:
            raise KeyError(f"condition {cond!r}: tag table lacks {missing}")
        out[cond] = tag_table[cols].to_numpy(bool).all(axis=1) if cols else np.zeros(len(tag_table), bool)
    return pd.DataFrame(out, index=tag_table.index)


def score_set(method: str, gen_emb: np.ndarray, gen_condition: Sequence[str], answers: np.ndarray,
              ref_emb: np.ndarray, ref_member: pd.DataFrame,
              expected: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`evaluate` with a ``method`` column on both tables (a checkpoint, the ceiling, a floor)."""
    per, skipped = evaluate(ref_emb, ref_member, gen_emb, gen_condition, answers, expected)
    per.insert(0, "method", method)
    skipped.insert(0, "method", method)
    return per, skipped


def common_conditions(per_condition: pd.DataFrame, by: str = "method") -> list[str]:
    """Conditions every ``by`` group scored, so eq. 2/4/6 means compare like with like."""
    sets = [set(g.condition) for _, g in per_condition.groupby(by)]
    return sorted(set.intersection(*sets)) if sets else []


def long_metrics(per_condition: pd.DataFrame, keys: Sequence[str] = ("method",),
                 mean_over: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-condition rows + the eq. 2/4/6 means ("all", over ``mean_over`` conditions when given) as
    a long table: keys, condition, quantity, ours, n, note."""
    rows = []
    for key_vals, grp in per_condition.groupby(list(keys), sort=False):
        key_vals = key_vals if isinstance(key_vals, tuple) else (key_vals,)
        base = dict(zip(keys, key_vals))
        sub = grp if mean_over is None else grp[grp.condition.isin(mean_over)]
        note = "" if mean_over is None else f"mean over {len(sub)} prompts: {','.join(sub.condition)}"
        for m in ("realism", "diversity", "consistency"):
            for r in grp.itertuples(index=False):
                rows.append({**base, "condition": r.condition, "quantity": m, "ours": getattr(r, m),
                             "n": r.n_gen, "note": ""})
            rows.append({**base, "condition": "all", "quantity": m,
                         "ours": float(sub[m].mean()) if len(sub) else np.nan,
                         "n": int(sub["n_gen"].sum()), "note": note})
    out = pd.DataFrame(rows)
    out["paper"] = np.nan
    return out
