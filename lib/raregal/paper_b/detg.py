"""The dust-lane early-type galaxy (D-ETG) task of paper B §4.3 and Appendix D.

- Table 3: known D-ETGs as positives against random galaxies at 1 : 100, baseline vs focal vs
  augmented with synthetic D-ETGs (:func:`table3_split`, then :func:`raregal.paper_b.classifiers.run_arms`).
- The search (:func:`run_search`): train on synthetic D-ETGs + random galaxies, score the whole
  catalog, vet the candidates (:mod:`raregal.paper_b.vetting`, ≥ 2 of 3 reviewers), retrain with the vetted
  galaxies (accepted as positives, rejected as hard negatives), repeat; the catalog of accepted
  galaxies with the round that found them and whether the known catalog already had them.
- On the mock, completeness and purity of that catalog against the truth (:func:`score_against_truth`)
  — something the paper could not measure.
- The figures' data: a control ETG sample matched in z and M* (:func:`matched_control`), CDFs with
  1σ bootstrap bands (:func:`bootstrap_cdf`), KDEs (:func:`kde`), and the plots of Figs 6–9, D4.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from raregal.paper_b import classifiers as C
from raregal.paper_b import vetting as V

# Paper B Table 3 (purity, completeness, F1 of D-ETG identification at 1 positive : 100 negatives).
PAPER_TABLE3 = pd.DataFrame(
    [(m, q, v) for m, vals in {"baseline": (0.43, 0.43, 0.43), "focal": (0.48, 0.16, 0.24),
                               "augmented": (0.74, 0.60, 0.66)}.items()
     for q, v in zip(C.QUANTITIES, vals)], columns=["method", "quantity", "paper"])
TABLE3_RATIO = 0.01  # 100 positives : 10,000 negatives
PAPER_TABLE3_SIZES = {"n_positives": 100, "n_negatives": 10000}

# Weighted prompts of paper B Fig. 7 for synthetic D-ETGs.
DETG_PROMPTS = ("sdss, {completely round:1.2} galaxy, {dust lane:1.3}",
                "sdss, in-between round galaxy, {dust lane:1.3}")

# Paper B §4.3 search numbers (239,695 GZ2 galaxies; 352 known D-ETGs of Kaviraj et al. 2012).
PAPER_SEARCH = {"n_catalog": 239695, "n_known": 352, "n_synthetic": 10000, "n_negatives": 10000,
                "candidates": {1: 8184, 2: 2488, 3: 1062}, "final_new": 520, "n_control": 4000,
                "min_votes": 2, "n_reviewers": 3}
CATALOG_COLUMNS = ("id", "score", "round", "votes", "in_known_catalog")


# ---------------------------------------------------------------------------------------------
# Table 3
# ---------------------------------------------------------------------------------------------
def table3_split(known: Any, n_negatives: int, seed: int, ratio: float = TABLE3_RATIO,
                 test_fraction: float = 0.1, val_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Known D-ETGs (bool per catalog row) as positives, ``n_negatives`` random other galaxies,
    ``ratio`` positives per negative; the same 90/10 (+10 % validation) split as Table 2."""
    return C.split_task(known, n_negatives, int(round(n_negatives * ratio)), seed,
                        test_fraction=test_fraction, val_fraction=val_fraction)


# ---------------------------------------------------------------------------------------------
# the iterative search
# ---------------------------------------------------------------------------------------------
def _train_on(views: np.ndarray, pos_rows: np.ndarray, neg_rows: np.ndarray,
              synthetic_views: np.ndarray, settings: C.TrainSettings,
              make_model: Callable[[], C.BinaryClassifier], augment: Any, seed: int,
              val_fraction: float) -> C.TrainedArm:
    """Fit on synthetic + real positives vs real negatives; threshold on a held-out 10 %."""
    from sklearn.model_selection import train_test_split

    data = np.concatenate([synthetic_views, views[:, pos_rows], views[:, neg_rows]], axis=1)
    y = np.r_[np.ones(synthetic_views.shape[1] + len(pos_rows), bool), np.zeros(len(neg_rows), bool)]
    tr, va = train_test_split(np.arange(len(y)), test_size=val_fraction, stratify=y, random_state=seed)
    return C.fit_arm(data, y, {"train": tr, "val": va}, replace(settings, seed=seed), make_model,
                     augment)


def run_search(views: Any, ids: Sequence[int], synthetic_views: Any, reviewers: Sequence[V.Reviewer],
               settings: C.TrainSettings, make_model: Callable[[], C.BinaryClassifier],
               n_negatives: int, n_rounds: int = 3, seed: int = 0, max_candidates: int | None = None,
               known_ids: Sequence[int] = (), log: V.VettingLog | None = None,
               min_votes: int = V.MIN_VOTES, augment: Any = None, val_fraction: float = 0.1,
               truth: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Paper B §4.3 search over the catalog rows of ``views`` ((V, N, ...), row i ↔ ``ids[i]``).

    Round 1 trains on the synthetic D-ETGs (positives) and ``n_negatives`` random galaxies; every
    round scores the whole catalog, sends galaxies above the validation threshold that nobody has
    vetted yet (the ``max_candidates`` best when capped) to the reviewers, and the next round
    retrains with the accepted ones added to the positives and the rejected ones to the negatives.
    Returns ``(catalog, rounds)``: the accepted galaxies (``id, score, round, votes,
    in_known_catalog``, score from the round that found them) and one row per round. ``truth``
    (bool per row, mock only) adds how many candidates were real D-ETGs to ``rounds``.
    A :class:`raregal.paper_b.vetting.PendingReview` from a human reviewer propagates: answer, then rerun.
    ``synthetic_views=None`` (no generator) means the search cannot start: an empty catalog and a
    ``rounds`` frame saying ``not_run`` are returned.
    """
    if synthetic_views is None:
        return (pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
                    CATALOG_COLUMNS, ("int64", "float64", "int64", "int64", "bool"))}),
                pd.DataFrame({"round": [0], "not_run": ["no synthetic D-ETGs to start from"]}))
    v = np.asarray(views, dtype=np.float32)
    s = np.asarray(synthetic_views, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    if v.shape[1] != len(ids):
        raise ValueError(f"{v.shape[1]} catalog rows but {len(ids)} ids")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("catalog ids must be unique")
    if s.shape[1] == 0:
        raise ValueError("the search starts from synthetic D-ETGs: none were given")
    if not 0 < n_negatives <= len(ids):
        raise ValueError(f"n_negatives must be in 1..{len(ids)}, got {n_negatives}")
    known = np.isin(ids, np.asarray(list(known_ids), dtype=np.int64))
    truth = None if truth is None else np.asarray(truth, bool)
    rng = np.random.default_rng(seed)
    negatives = rng.choice(len(ids), n_negatives, replace=False)
    accepted_rows: list[int] = []
    rejected_rows: list[int] = []
    vetted = np.zeros(len(ids), bool)
    found = []
    rounds = []
    for r in range(1, n_rounds + 1):
        neg = np.setdiff1d(np.union1d(negatives, rejected_rows), accepted_rows).astype(int)
        arm = _train_on(v, np.asarray(accepted_rows, int), neg, s, settings, make_model, augment,
                        seed + r, val_fraction)
        score = C.predict_proba(arm.model, v[0])
        flagged = score >= arm.threshold
        cand = np.flatnonzero(flagged & ~vetted)
        cand = cand[np.argsort(-score[cand], kind="stable")]
        n_over_cap = 0
        if max_candidates is not None and len(cand) > max_candidates:
            n_over_cap = len(cand) - max_candidates
            cand = cand[:max_candidates]
        verdict = V.vet(ids[cand].tolist(), reviewers, log, round_=r, min_votes=min_votes)
        acc = verdict["accepted"].to_numpy()
        vetted[cand] = True
        accepted_rows += cand[acc].tolist()
        rejected_rows += cand[~acc].tolist()
        found.append(pd.DataFrame({"id": ids[cand[acc]], "score": score[cand[acc]], "round": r,
                                   "votes": verdict["votes"].to_numpy()[acc],
                                   "in_known_catalog": known[cand[acc]]}))
        row = {"round": r, "threshold": arm.threshold, "n_flagged": int(flagged.sum()),
               "n_candidates": len(cand), "n_not_vetted_over_cap": n_over_cap,
               "n_accepted": int(acc.sum()), "n_accepted_new": int((acc & ~known[cand]).sum()),
               "n_train_positive": s.shape[1] + len(accepted_rows) - int(acc.sum()),
               "n_train_negative": len(neg)}
        if truth is not None:
            row["n_candidates_true"] = int(truth[cand].sum())
            row["n_accepted_true"] = int(truth[cand[acc]].sum())
        rounds.append(row)
    catalog = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=CATALOG_COLUMNS)
    catalog = catalog.astype({"id": "int64", "round": "int64", "votes": "int64",
                              "in_known_catalog": bool})
    return catalog[list(CATALOG_COLUMNS)], pd.DataFrame(rounds)


def search_with_vetting(*args, image_dir: Any = None, show_widget: bool = True, **kwargs
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`run_search`, and when a person still has candidates to answer (real data), show them
    the :class:`raregal.paper_b.vetting.VettingWidget` for those candidates before stopping with
    :class:`raregal.paper_b.vetting.PendingReview`; answer in the widget, then rerun the notebook."""
    try:
        return run_search(*args, **kwargs)
    except V.PendingReview as err:
        log = kwargs.get("log")
        if show_widget and log is not None and image_dir is not None:
            from pathlib import Path

            from raregal.core.images import image_path

            def load(i):
                return Path(image_path(image_dir, i)).read_bytes()

            V.VettingWidget(err.missing, err.reviewer, log, load).show()
        raise


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


# ---------------------------------------------------------------------------------------------
# figure data: control sample, CDFs with bootstrap bands, KDEs
# ---------------------------------------------------------------------------------------------
def matched_control(target: pd.DataFrame, pool: pd.DataFrame, n: int,
                    columns: Sequence[str] = ("z", "logmstar"), n_bins: int = 5,
                    seed: int = 0) -> pd.DataFrame:
    """``n`` rows of ``pool`` whose joint distribution of ``columns`` follows ``target``'s.

    Cells are the target's per-column quantile bins (``n_bins`` each); pool rows outside the target's
    range are not eligible; each cell is drawn in the target's proportion, without replacement while
    the cell lasts. Draws that had to repeat a galaxy are counted in ``attrs['n_reused']``, and cells
    the pool does not cover at all (their share is redrawn from the others) in ``attrs['n_empty_cells']``.
    """
    cols = list(columns)
    for name, df in (("target", target), ("pool", pool)):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"{name} sample lacks columns {missing}")
    t = target[cols].dropna()
    p = pool.dropna(subset=cols)
    if len(t) == 0 or len(p) == 0 or n < 1:
        raise ValueError(f"cannot match {n} rows: {len(t)} target and {len(p)} pool rows with finite {cols}")
    edges = [np.unique(np.quantile(t[c], np.linspace(0, 1, n_bins + 1))) for c in cols]

    def cell(df):
        code = np.zeros(len(df), np.int64)
        inside = np.ones(len(df), bool)
        for c, e in zip(cols, edges):
            x = df[c].to_numpy(float)
            inside &= (x >= e[0]) & (x <= e[-1])
            k = np.clip(np.searchsorted(e, x, side="right") - 1, 0, max(len(e) - 2, 0))
            code = code * (n_bins + 1) + k
        return np.where(inside, code, -1)

    t_cell, p_cell = cell(t), cell(p)
    keys, counts = np.unique(t_cell, return_counts=True)
    covered = np.isin(keys, p_cell)
    if not covered.any():
        raise ValueError(f"no pool galaxy lies inside the target's range of {cols}")
    rng = np.random.default_rng(seed)
    want = rng.multinomial(n, counts[covered] / counts[covered].sum())
    picks, reused = [], 0
    for key, k in zip(keys[covered], want):
        members = np.flatnonzero(p_cell == key)
        if k > len(members):
            reused += k - len(members)
        if k:
            picks.append(rng.choice(members, k, replace=k > len(members)))
    out = p.iloc[np.concatenate(picks)]
    out.attrs["n_reused"] = int(reused)
    out.attrs["n_empty_cells"] = int((~covered).sum())
    return out


def bootstrap_cdf(values: Any, grid: Any, n_boot: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Empirical CDF on ``grid`` and its 1σ (16–84 %) bootstrap band; NaNs dropped and counted."""
    x = np.asarray(values, float)
    grid = np.asarray(grid, float)
    n_nan = int(np.isnan(x).sum())
    x = np.sort(x[~np.isnan(x)])
    if len(x) == 0:
        raise ValueError("no finite values for a CDF")
    cdf = np.searchsorted(x, grid, side="right") / len(x)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, len(grid)))
    for b in range(n_boot):
        xb = np.sort(rng.choice(x, len(x), replace=True))
        boots[b] = np.searchsorted(xb, grid, side="right") / len(x)
    lo, hi = np.percentile(boots, [15.865, 84.135], axis=0)
    return {"grid": grid, "cdf": cdf, "lo": lo, "hi": hi, "n": len(x), "n_nan": n_nan}


def kde(values: Any, grid: Any) -> np.ndarray:
    """Gaussian KDE (Scott's bandwidth, scipy) of the finite values on ``grid``."""
    from scipy.stats import gaussian_kde

    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError(f"a KDE needs at least 2 distinct finite values, got {len(x)}")
    return gaussian_kde(x)(np.asarray(grid, float))


# ---------------------------------------------------------------------------------------------
# plots (notebook 12 calls these; the figures are made from the saved catalog and tables)
# ---------------------------------------------------------------------------------------------
SAMPLE_COLOURS = {"new": "tab:red", "known": "tab:blue", "control": "black"}


def image_rows(rows: Sequence[tuple[str, Any]], n_cols: int = 6, title: str = ""):
    """A grid: one row per (label, uint8 (N, H, W, 3) images), at most ``n_cols`` each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.5 * n_cols, 1.6 * len(rows) + 0.4),
                             squeeze=False)
    for (label, imgs), ax_row in zip(rows, axes):
        imgs = np.zeros((0, 1, 1, 3), np.uint8) if imgs is None else np.asarray(imgs)
        for j, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(imgs):
                ax.imshow(imgs[j])
            else:
                ax.axis("off")
        ax_row[0].set_ylabel(f"{label}\n(n={len(imgs)})" if len(imgs) < n_cols else label, fontsize=8)
        if len(imgs) == 0:
            # the axes are off, so the row label would not show: name the empty row in the text
            ax_row[0].text(0.0, 0.5, f"{label}: none", ha="left", va="center", fontsize=8,
                           transform=ax_row[0].transAxes)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_kdes(samples: dict[str, Any], column: str, grid: Any, xlabel: str, ax=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, df in samples.items():
        vals = np.asarray(df[column], float)
        if np.isfinite(vals).sum() < 2:
            continue
        ax.plot(grid, kde(vals, grid), color=SAMPLE_COLOURS.get(name), label=f"{name} (n={len(vals)})")
        ax.fill_between(grid, 0, kde(vals, grid), color=SAMPLE_COLOURS.get(name), alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax.figure


def plot_cdf_panels(samples: dict[str, Any], panels: Sequence[tuple[str, str]], n_boot: int = 200,
                    seed: int = 0, n_grid: int = 200, title: str = ""):
    """One panel per (column, axis label): the CDF of each sample with its 1σ bootstrap band."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (column, xlabel) in zip(axes[0], panels):
        allv = np.concatenate([np.asarray(df[column], float) for df in samples.values()])
        allv = allv[np.isfinite(allv)]
        grid = np.linspace(allv.min(), allv.max(), n_grid)
        for name, df in samples.items():
            if np.isfinite(np.asarray(df[column], float)).sum() == 0:
                continue
            c = bootstrap_cdf(df[column], grid, n_boot, seed)
            colour = SAMPLE_COLOURS.get(name)
            ax.plot(grid, c["cdf"], color=colour, label=f"{name} (n={c['n']})")
            ax.fill_between(grid, c["lo"], c["hi"], color=colour, alpha=0.25)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("cumulative fraction")
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# what notebook 12 uses
# ---------------------------------------------------------------------------------------------
ETG_TAGS = ("completely_round", "in_between_round")  # the early types the D-ETG prompts name


def clean_etgs(tags: pd.DataFrame, catalog: pd.DataFrame) -> np.ndarray:
    """dr7objids of round / in-between early types that no volunteer flagged with a dust lane and
    that are not in the known D-ETG catalog: the real early types D-ETGs are generated from."""
    from raregal.core.gz2_schema import column, stem_of

    lane_votes = catalog.set_index("dr7objid")[column(stem_of("t08", "a38"), "count")]
    etg = np.logical_or.reduce([tags[f"tag_{t}"].to_numpy(bool) for t in ETG_TAGS])
    quiet = lane_votes.reindex(tags["dr7objid"]).fillna(1).to_numpy() == 0
    known = tags["known_detg"].to_numpy(bool) if "known_detg" in tags else np.zeros(len(tags), bool)
    return tags["dr7objid"].to_numpy(np.int64)[etg & quiet & ~known]


def synthetic_detgs(cfg: Any, featurizer: C.Featurizer, etg_ids: Sequence[int], image_dir: Any, n: int,
                    n_references: int = 64) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """``n`` synthetic D-ETGs split over the weighted prompts of Fig. 7, each started (img2img, as
    seed 004 §2) from a random real early type of ``etg_ids`` (see :func:`clean_etgs`).
    Returns ``(views, uint8 images, note)``; ``(None, None, why)`` when there is no generator."""
    from raregal.core.images import read_images

    etg_ids = np.asarray(etg_ids, np.int64)
    if len(etg_ids) == 0:
        raise ValueError("no early-type reference galaxies to start the synthetic D-ETGs from")
    rng = np.random.default_rng(cfg.seed)
    refs = {}
    for name in ("detg_round", "detg_in_between"):
        pick = rng.choice(etg_ids, min(n_references, len(etg_ids)), replace=False)
        batch = read_images(image_dir, pick.tolist())
        refs[name] = (batch.images, batch.ids.tolist()) if len(batch.ids) else (None, None)
    prompts = dict(zip(("detg_round", "detg_in_between"), DETG_PROMPTS))
    counts = {"detg_round": n - n // 2, "detg_in_between": n // 2}
    views, images, notes = {}, {}, {}
    for name, prompt in prompts.items():
        v, im, nt = C.task_synthetic(cfg, featurizer, {name: prompt}, counts[name], {name: refs[name]})
        views.update(v)
        images.update(im)
        notes.update(nt)
    note = "; ".join(notes.values())
    if len(views) < len(prompts):
        return None, None, note
    return (np.concatenate([views[k] for k in prompts], axis=1),
            np.concatenate([images[k] for k in prompts]), note)


def catalog_rows(catalog: pd.DataFrame, ids: Sequence[int]) -> pd.DataFrame:
    """The catalog rows of ``ids`` in that order; ids the catalog lacks are an error naming the fix
    (tags and catalog from different runs of notebooks 01 and 07)."""
    cat = catalog.drop_duplicates("dr7objid").set_index("dr7objid")
    ids = np.asarray(ids, np.int64)
    missing = ~np.isin(ids, cat.index.to_numpy(np.int64))
    if missing.any():
        raise ValueError(f"{int(missing.sum())} of {len(ids)} tagged galaxies are not in the catalog "
                         f"(e.g. {ids[missing][:3].tolist()}): the tags and the catalog come from "
                         f"different runs — rerun notebooks 01 and 07 with this profile")
    return cat.loc[ids].reset_index()


def make_reviewers(source: str, log_path: Any, truth: dict[int, bool] | None = None,
                   names: Sequence[str] = ("reviewer_1", "reviewer_2", "reviewer_3"),
                   miss_rate: float = 0.15, false_yes_rate: float = 0.03, seed: int = 0
                   ) -> tuple[list, V.VettingLog]:
    """Mock: simulated reviewers answering from the truth (the log is started afresh, since their
    answers are a function of the seed). Real: people answering in :class:`VettingWidget`, read
    back from the log, which is kept and resumed."""
    from pathlib import Path

    log = V.VettingLog(log_path)
    if source == "mock":
        if truth is None:
            raise ValueError("simulated reviewers need the mock truth")
        Path(log_path).unlink(missing_ok=True)
        return [V.SimulatedReviewer(nm, truth, miss_rate, false_yes_rate, seed=seed + k)
                for k, nm in enumerate(names)], log
    return [V.LogReviewer(nm, log) for nm in names], log


def search_table(rounds: pd.DataFrame, catalog: pd.DataFrame, n_catalog: int,
                 truth_scores: dict[str, float] | None = None) -> pd.DataFrame:
    """``B-table-search``: candidates and accepted per round (and as a fraction of the catalog, the
    comparable number), the final catalog, and — on the mock — its purity and completeness."""
    rows = []
    if "not_run" in rounds:
        return pd.DataFrame([{"round": "all", "quantity": "search not run", "ours": np.nan,
                              "paper": np.nan, "note": rounds["not_run"].iloc[0]}])
    for r in rounds.itertuples():
        paper_c = PAPER_SEARCH["candidates"].get(r.round, np.nan)
        rows += [
            {"round": str(r.round), "quantity": "candidates vetted", "ours": r.n_candidates, "paper": paper_c},
            {"round": str(r.round), "quantity": "candidates / catalog", "ours": r.n_candidates / n_catalog,
             "paper": paper_c / PAPER_SEARCH["n_catalog"]},
            {"round": str(r.round), "quantity": "flagged above threshold", "ours": r.n_flagged, "paper": np.nan},
            {"round": str(r.round), "quantity": "accepted (>= 2 of 3)", "ours": r.n_accepted, "paper": np.nan},
        ]
        if "n_candidates_true" in rounds:
            rows.append({"round": str(r.round), "quantity": "true D-ETGs among candidates (mock truth)",
                         "ours": r.n_candidates_true, "paper": np.nan})
    new = int((~catalog["in_known_catalog"]).sum())
    rows += [{"round": "final", "quantity": "accepted", "ours": len(catalog), "paper": np.nan},
             {"round": "final", "quantity": "accepted, not in known catalog", "ours": new,
              "paper": PAPER_SEARCH["final_new"]},
             {"round": "final", "quantity": "new / catalog", "ours": new / n_catalog,
              "paper": PAPER_SEARCH["final_new"] / PAPER_SEARCH["n_catalog"]}]
    for k, v in (truth_scores or {}).items():
        rows.append({"round": "final", "quantity": f"{k} (mock truth)", "ours": v, "paper": np.nan})
    return pd.DataFrame(rows)


def comparison_samples(physical: pd.DataFrame, found_ids: Sequence[int], known_ids: Sequence[int],
                       etg: Any, n_control: int, seed: int = 0) -> tuple[dict[str, pd.DataFrame], str]:
    """The three samples of Figs 8, 9, D4: newly found (accepted, not known), known, and a control of
    early types (``etg`` bool per row, neither found nor known) matched in z and M* to the new sample
    (to the known one when fewer than 5 were found; the note says so)."""
    ids = physical["dr7objid"].to_numpy(np.int64)
    found, known = np.isin(ids, np.asarray(list(found_ids), np.int64)), np.isin(ids, np.asarray(list(known_ids), np.int64))
    new = physical[found & ~known]
    kn = physical[known]
    pool = physical[np.asarray(etg, bool) & ~found & ~known]
    target, note = (new, "control matched to the new sample") if len(new) >= 5 else \
        (kn, f"only {len(new)} new D-ETGs: control matched to the known sample")
    control = matched_control(target, pool, n_control, seed=seed)
    note += f"; {control.attrs['n_reused']} control draws repeat a galaxy"
    return {"new": new, "known": kn, "control": control}, note
