"""The iterative D-ETG search of Ma et al. (2025) §4.3, its vetting, and its report.

Train on synthetic D-ETGs + random galaxies, score the whole catalog, vet the candidates
(:mod:`raregal.paper_b.vetting`, ≥ 2 of 3 reviewers), retrain with the vetted galaxies (accepted as
positives, rejected as hard negatives), repeat; the catalog of accepted galaxies with the round that
found them and whether the known catalog already had them. On the mock, completeness and purity of
that catalog against the truth (:func:`score_against_truth`) — something the paper could not measure.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from raregal.paper_b import classifiers, vetting
from raregal.paper_b.values import PAPER_SEARCH

CATALOG_COLUMNS = ("id", "score", "round", "votes", "in_known_catalog")
MAX_NEGATIVE_SHARE = 0.5  # at most this share of the catalog is drawn as round-1 negatives
NEEDS_KNOWN_LIST = "needs the known D-ETG list (Kaviraj et al. 2012)"


def scaled_search_negatives(n_negatives: int, n_catalog: int,
                            max_share: float = MAX_NEGATIVE_SHARE) -> tuple[int, str]:
    """The round-1 random negatives for a catalog of ``n_catalog`` galaxies: ``detg.search_negatives``,
    or at most ``max_share`` of the catalog when the sample is smaller (Ma et al. 2025 §4.3 draw
    10,000 of 239,695), so most galaxies are scored without having been trained on as negatives.

    Returns
    -------
    (n, note)
        The number to draw and what was scaled ('' when nothing was).
    """
    if n_negatives < 1:
        raise ValueError(f"detg.search_negatives must be >= 1, got {n_negatives}")
    cap = int(max_share * n_catalog)
    if cap < 1:
        raise ValueError(f"the search needs random negatives: detg.search_negatives = {n_negatives}, but "
                         f"the catalog has {n_catalog} galaxies; use a larger sample (survey_b.n_galaxies)")
    if n_negatives <= cap:
        return n_negatives, ""
    return cap, (f"detg.search_negatives = {n_negatives} is more than {max_share:.0%} of the {n_catalog} "
                 f"galaxies searched: {cap} random negatives drawn")


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs (Ma et al. 2025 §4.3: 10,000 random negatives, 3 rounds, ≥ 2 of 3 votes).

    ``train``: each round's classifier training (its seed is replaced by ``seed + round``);
    ``max_candidates``: at most this many of the best-scored new candidates are vetted per round
    (None: all); ``val_fraction``: share of the training set held out to choose the threshold.
    """

    n_negatives: int
    train: classifiers.TrainSettings = field(default_factory=classifiers.TrainSettings)
    n_rounds: int = 3
    seed: int = 0
    max_candidates: int | None = None
    min_votes: int = vetting.MIN_VOTES
    val_fraction: float = 0.1


@dataclass
class Survey:
    """The galaxies searched: ``views`` (V, N, ...) with row i ↔ ``ids[i]``, the ids of the known
    D-ETG catalog, and (mock only) the truth per row."""

    views: Any
    ids: Sequence[int]
    known_ids: Sequence[int] = ()
    truth: Any = None


@dataclass
class _Search:
    """One search's inputs and state: which rows were vetted, accepted and rejected so far."""

    views: np.ndarray
    synthetic: np.ndarray
    ids: np.ndarray
    known: np.ndarray
    truth: np.ndarray | None
    reviewers: Sequence[vetting.Reviewer]
    settings: SearchSettings
    make_model: Callable[[], classifiers.BinaryClassifier]
    augment: Any
    log: vetting.VettingLog | None
    negatives: np.ndarray
    accepted: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)
    vetted: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.vetted is None:
            self.vetted = np.zeros(len(self.ids), bool)

    def train(self, round_: int, negative_rows: np.ndarray) -> classifiers.TrainedArm:
        """Fit on synthetic + accepted positives vs negatives; threshold on a held-out share."""
        from sklearn.model_selection import train_test_split

        pos_rows = np.asarray(self.accepted, int)
        data = np.concatenate([self.synthetic, self.views[:, pos_rows], self.views[:, negative_rows]], axis=1)
        y = np.r_[np.ones(self.synthetic.shape[1] + len(pos_rows), bool), np.zeros(len(negative_rows), bool)]
        seed = self.settings.seed + round_
        tr, va = train_test_split(np.arange(len(y)), test_size=self.settings.val_fraction, stratify=y,
                                  random_state=seed)
        return classifiers.fit_arm(data, y, {"train": tr, "val": va}, replace(self.settings.train, seed=seed),
                                   self.make_model, self.augment)

    def candidates(self, score: np.ndarray, flagged: np.ndarray) -> tuple[np.ndarray, int]:
        """Flagged rows nobody has vetted yet, best first, capped; and how many the cap left out."""
        cand = np.flatnonzero(flagged & ~self.vetted)
        cand = cand[np.argsort(-score[cand], kind="stable")]
        cap = self.settings.max_candidates
        if cap is not None and len(cand) > cap:
            return cand[:cap], len(cand) - cap
        return cand, 0

    def run_round(self, round_: int) -> tuple[pd.DataFrame, dict]:
        """Train, score, vet; the galaxies accepted this round and the round's counts."""
        neg = np.setdiff1d(np.union1d(self.negatives, self.rejected), self.accepted).astype(int)
        n_positive = self.synthetic.shape[1] + len(self.accepted)
        arm = self.train(round_, neg)
        score = classifiers.predict_proba(arm.model, self.views[0])
        flagged = score >= arm.threshold
        cand, n_over_cap = self.candidates(score, flagged)
        verdict = vetting.vet(self.ids[cand].tolist(), self.reviewers, self.log, round_=round_,
                              min_votes=self.settings.min_votes)
        acc = verdict["accepted"].to_numpy()
        self.vetted[cand] = True
        self.accepted += cand[acc].tolist()
        self.rejected += cand[~acc].tolist()
        found = pd.DataFrame({"id": self.ids[cand[acc]], "score": score[cand[acc]], "round": round_,
                              "votes": verdict["votes"].to_numpy()[acc],
                              "in_known_catalog": self.known[cand[acc]]})
        row = {"round": round_, "threshold": arm.threshold, "n_flagged": int(flagged.sum()),
               "n_candidates": len(cand), "n_not_vetted_over_cap": n_over_cap,
               "n_accepted": int(acc.sum()), "n_accepted_new": int((acc & ~self.known[cand]).sum()),
               "n_train_positive": n_positive, "n_train_negative": len(neg)}
        if self.truth is not None:
            row["n_candidates_true"] = int(self.truth[cand].sum())
            row["n_accepted_true"] = int(self.truth[cand[acc]].sum())
        return found, row


def _empty_catalog() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        CATALOG_COLUMNS, ("int64", "float64", "int64", "int64", "bool"))})


def _checked(survey: Survey, synthetic_views: Any, n_negatives: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The views, synthetic views and ids as arrays; inconsistent inputs refused by name."""
    v = np.asarray(survey.views, dtype=np.float32)
    s = np.asarray(synthetic_views, dtype=np.float32)
    ids = np.asarray(survey.ids, dtype=np.int64)
    if v.shape[1] != len(ids):
        raise ValueError(f"{v.shape[1]} catalog rows but {len(ids)} ids")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("catalog ids must be unique")
    if s.shape[1] == 0:
        raise ValueError("the search starts from synthetic D-ETGs: none were given")
    if not 0 < n_negatives <= len(ids):
        raise ValueError(f"n_negatives must be in 1..{len(ids)} (the galaxies searched), got {n_negatives}:"
                         f" lower detg.search_negatives in the profile (see scaled_search_negatives)")
    return v, s, ids


def run_search(survey: Survey, synthetic_views: Any, reviewers: Sequence[vetting.Reviewer],
               settings: SearchSettings, make_model: Callable[[], classifiers.BinaryClassifier],
               augment: Any = None, log: vetting.VettingLog | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ma et al. (2025) §4.3 search over the catalog rows of ``survey``.

    Round 1 trains on the synthetic D-ETGs (positives) and ``settings.n_negatives`` random galaxies;
    every round scores the whole catalog, sends galaxies above the validation threshold that nobody
    has vetted yet (the ``max_candidates`` best when capped) to the reviewers, and the next round
    retrains with the accepted ones added to the positives and the rejected ones to the negatives.

    Parameters
    ----------
    survey : Survey
        Views, ids, known D-ETG ids and (mock) truth of the galaxies searched.
    synthetic_views : array (V, M, ...) or None
        Synthetic D-ETGs to start from; None (no generator) means the search cannot start: an empty
        catalog and a ``rounds`` frame saying ``not_run`` are returned.
    reviewers : sequence of Reviewer
        Who vets the candidates (:mod:`raregal.paper_b.vetting`); a
        :class:`raregal.paper_b.vetting.PendingReview` from a human reviewer propagates: answer, then
        rerun.
    settings : SearchSettings
        Negatives, rounds, seed, cap, votes needed, training.
    make_model : callable
        A fresh classifier per round.
    augment : nn.Module, optional
        Per-batch augmentation (``finetune`` mode).
    log : VettingLog, optional
        Where simulated answers are recorded.

    Returns
    -------
    (catalog, rounds)
        The accepted galaxies (``id, score, round, votes, in_known_catalog``, score from the round
        that found them) and one row per round; with the truth, ``rounds`` also counts how many
        candidates and accepted galaxies were real D-ETGs.
    """
    if synthetic_views is None:
        not_run = pd.DataFrame({"round": [0], "not_run": ["no synthetic D-ETGs to start from"]})
        return _empty_catalog(), not_run
    v, s, ids = _checked(survey, synthetic_views, settings.n_negatives)
    rng = np.random.default_rng(settings.seed)
    search = _Search(v, s, ids, np.isin(ids, np.asarray(list(survey.known_ids), dtype=np.int64)),
                     None if survey.truth is None else np.asarray(survey.truth, bool), reviewers, settings,
                     make_model, augment, log, negatives=rng.choice(len(ids), settings.n_negatives,
                                                                    replace=False))
    found, rounds = [], []
    for r in range(1, settings.n_rounds + 1):
        accepted, row = search.run_round(r)
        found.append(accepted)
        rounds.append(row)
    catalog = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=CATALOG_COLUMNS)
    catalog = catalog.astype({"id": "int64", "round": "int64", "votes": "int64", "in_known_catalog": bool})
    return catalog[list(CATALOG_COLUMNS)], pd.DataFrame(rounds)


def search_with_vetting(survey: Survey, synthetic_views: Any, reviewers: Sequence[vetting.Reviewer],
                        settings: SearchSettings, make_model: Callable[[], classifiers.BinaryClassifier],
                        augment: Any = None, log: vetting.VettingLog | None = None, image_dir: Any = None,
                        show_widget: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`run_search`, and when a person still has candidates to answer (real data), show them
    the :class:`raregal.paper_b.vetting.VettingWidget` for those candidates before stopping with
    :class:`raregal.paper_b.vetting.PendingReview`; answer in the widget, then rerun the notebook."""
    try:
        return run_search(survey, synthetic_views, reviewers, settings, make_model, augment, log)
    except vetting.PendingReview as err:
        if show_widget and log is not None and image_dir is not None:
            from pathlib import Path

            from raregal.core.images import image_path

            def load(i):
                return Path(image_path(image_dir, i)).read_bytes()

            vetting.VettingWidget(err.missing, err.reviewer, log, load).show()
        raise


def make_reviewers(source: str, log_path: Any, truth: dict[int, bool] | None = None,
                   names: Sequence[str] = ("reviewer_1", "reviewer_2", "reviewer_3"),
                   miss_rate: float = 0.15, false_yes_rate: float = 0.03, seed: int = 0
                   ) -> tuple[list, vetting.VettingLog]:
    """Mock: simulated reviewers answering from the truth (the log is started afresh, since their
    answers are a function of the seed). Real: people answering in :class:`VettingWidget`, read
    back from the log, which is kept and resumed."""
    from pathlib import Path

    log = vetting.VettingLog(log_path)
    if source == "mock":
        if truth is None:
            raise ValueError("simulated reviewers need the mock truth")
        Path(log_path).unlink(missing_ok=True)
        return [vetting.SimulatedReviewer(nm, truth, miss_rate, false_yes_rate, seed=seed + k)
                for k, nm in enumerate(names)], log
    return [vetting.LogReviewer(nm, log) for nm in names], log


def score_against_truth(catalog_ids: Sequence[int], ids: Sequence[int], truth: Any,
                        known_ids: Sequence[int] = ()) -> dict[str, float]:
    """Purity and completeness of a found catalog against the mock truth; also for the galaxies the
    known catalog missed (``*_new``), the paper's target."""
    ids = np.asarray(ids, np.int64)
    truth = np.asarray(truth, bool)
    if len(ids) != len(truth):
        raise ValueError(f"{len(ids)} ids but {len(truth)} truth values")
    found = np.isin(ids, np.asarray(list(catalog_ids), np.int64))
    unknown_ids = np.setdiff1d(np.asarray(list(catalog_ids), np.int64), ids)
    if len(unknown_ids):
        raise ValueError(f"{len(unknown_ids)} catalog id(s) are not in the survey, e.g. {unknown_ids[:3]}")
    new = ~np.isin(ids, np.asarray(list(known_ids), np.int64))
    out = {}
    for suffix, sel in (("", np.ones(len(ids), bool)), ("_new", new)):
        n_found, n_true = int((found & sel).sum()), int((truth & sel).sum())
        hit = int((found & sel & truth).sum())
        out[f"purity{suffix}"] = hit / n_found if n_found else float("nan")
        out[f"completeness{suffix}"] = hit / n_true if n_true else float("nan")
        out[f"n_found{suffix}"] = n_found
        out[f"n_true{suffix}"] = n_true
    return out


def search_table(rounds: pd.DataFrame, catalog: pd.DataFrame, n_catalog: int,
                 truth_scores: dict[str, float] | None = None, known_list: bool = True) -> pd.DataFrame:
    """``B-table-search``: candidates and accepted per round (and as a fraction of the catalog, the
    comparable number), the final catalog, and — on the mock — its purity and completeness.
    Without the known D-ETG list (``known_list=False``) the "new vs known" rows are NaN and say so."""
    rows = []
    if "not_run" in rounds:
        return pd.DataFrame([{"round": "all", "quantity": "search not run", "ours": np.nan,
                              "paper": np.nan, "note": rounds["not_run"].iloc[0]}])
    for r in rounds.itertuples():
        paper_c = PAPER_SEARCH["candidates"].get(r.round, np.nan)
        rnd = str(r.round)
        rows += [
            {"round": rnd, "quantity": "candidates vetted", "ours": r.n_candidates, "paper": paper_c},
            {"round": rnd, "quantity": "candidates / catalog", "ours": r.n_candidates / n_catalog,
             "paper": paper_c / PAPER_SEARCH["n_catalog"]},
            {"round": rnd, "quantity": "flagged above threshold", "ours": r.n_flagged, "paper": np.nan},
            {"round": rnd, "quantity": "accepted (>= 2 of 3)", "ours": r.n_accepted, "paper": np.nan},
        ]
        if "n_candidates_true" in rounds:
            rows.append({"round": rnd, "quantity": "true D-ETGs among candidates (mock truth)",
                         "ours": r.n_candidates_true, "paper": np.nan})
    new = int((~catalog["in_known_catalog"]).sum()) if known_list else np.nan
    unknown = {} if known_list else {"note": NEEDS_KNOWN_LIST}
    rows += [{"round": "final", "quantity": "accepted", "ours": len(catalog), "paper": np.nan},
             {"round": "final", "quantity": "accepted, not in known catalog", "ours": new,
              "paper": PAPER_SEARCH["final_new"], **unknown},
             {"round": "final", "quantity": "new / catalog", "ours": new / n_catalog,
              "paper": PAPER_SEARCH["final_new"] / PAPER_SEARCH["n_catalog"], **unknown}]
    for k, v in (truth_scores or {}).items():
        rows.append({"round": "final", "quantity": f"{k} (mock truth)", "ours": v, "paper": np.nan})
    return pd.DataFrame(rows)
