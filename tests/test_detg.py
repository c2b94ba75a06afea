"""D-ETG task: Table 3 split, the iterative search with vetting, truth scoring, control sample, CDFs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raregal.paper_b import classifiers as C
from raregal.paper_b import detg as D
from raregal.paper_b import vetting as V


def survey(n=3000, frac=0.01, d=8, seed=0):
    """Features where true D-ETGs sit in a shifted blob; ids like dr7objids."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < frac
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[truth, :3] += 2.5
    ids = np.arange(n, dtype=np.int64) * 7 + 10**15
    syn = rng.normal(size=(300, d)).astype(np.float32)
    syn[:, :3] += 2.5
    return x, ids, truth, syn


def test_paper_tables_match_text():
    t = D.PAPER_TABLE3.set_index(["method", "quantity"])["paper"]
    assert t[("augmented", "purity")] == 0.74 and t[("focal", "completeness")] == 0.16
    assert len(D.PAPER_TABLE3) == 9
    assert D.PAPER_SEARCH["candidates"] == {1: 8184, 2: 2488, 3: 1062} and D.PAPER_SEARCH["final_new"] == 520
    assert all("{dust lane:1.3}" in p for p in D.DETG_PROMPTS)


def test_table3_split_keeps_ratio():
    known = np.zeros(5000, bool)
    known[:80] = True
    s = D.table3_split(known, n_negatives=3000, seed=0)
    rows = np.concatenate(list(s.values()))
    assert known[rows].sum() == 30 and (~known[rows]).sum() == 3000
    assert known[s["test"]].sum() == 3


def test_search_finds_detgs_with_perfect_reviewers(tmp_path):
    x, ids, truth, syn = survey()
    revs = [V.SimulatedReviewer(n, dict(zip(ids.tolist(), truth.tolist())), 0, 0) for n in "abc"]
    log = V.VettingLog(tmp_path / "log.csv")
    known = ids[truth][:5]
    cat, rounds = D.run_search(x[None], ids, syn[None], revs, C.TrainSettings(lr=1e-2, epochs=3,
                               batch_size=256), lambda: C.head_classifier(8), n_negatives=600,
                               n_rounds=3, seed=0, known_ids=known, log=log, truth=truth)
    assert list(cat.columns) == list(D.CATALOG_COLUMNS)
    assert len(rounds) == 3 and rounds["round"].tolist() == [1, 2, 3]
    # perfect reviewers: everything accepted is a true D-ETG, every vetted id is in the log x3
    assert truth[np.isin(ids, cat["id"])].all()
    assert len(log.read()) == 3 * rounds["n_candidates"].sum()
    assert cat["id"].is_unique and (cat["votes"] == 3).all()
    assert cat["in_known_catalog"].sum() == np.isin(cat["id"], known).sum()
    assert (rounds["n_accepted_true"] == rounds["n_accepted"]).all()
    # a galaxy is vetted once: later rounds only see new candidates
    assert rounds["n_candidates"].sum() == len(np.unique(log.read()["id"]))
    sc = D.score_against_truth(cat["id"], ids, truth, known)
    assert sc["purity"] == 1.0 and sc["completeness"] > 0.6
    assert sc["n_true_new"] == truth.sum() - 5


def test_search_two_of_three_and_cap():
    x, ids, truth, syn = survey(seed=1)
    t = dict(zip(ids.tolist(), truth.tolist()))
    liar = V.SimulatedReviewer("c", t, 1.0, 1.0)  # always wrong
    revs = [V.SimulatedReviewer("a", t, 0, 0), V.SimulatedReviewer("b", t, 0, 0), liar]
    cat, rounds = D.run_search(x[None], ids, syn[None], revs, C.TrainSettings(lr=1e-2, epochs=2,
                               batch_size=256), lambda: C.head_classifier(8), n_negatives=500,
                               n_rounds=2, max_candidates=10, truth=truth)
    assert (rounds["n_candidates"] <= 10).all()
    assert (cat["votes"] == 2).all() and truth[np.isin(ids, cat["id"])].all()
    assert (rounds["n_candidates"] + rounds["n_not_vetted_over_cap"] <= rounds["n_flagged"]).all()


def test_search_stops_for_pending_human_review(tmp_path):
    x, ids, truth, syn = survey(n=800, seed=2)
    log = V.VettingLog(tmp_path / "log.csv")
    with pytest.raises(V.PendingReview):
        D.run_search(x[None], ids, syn[None], [V.LogReviewer("me", log)],
                     C.TrainSettings(lr=1e-2, epochs=1, batch_size=256), lambda: C.head_classifier(8),
                     n_negatives=200, min_votes=1)


def test_search_refuses_bad_input():
    x, ids, truth, syn = survey(n=500)
    args = dict(reviewers=[], settings=C.TrainSettings(), make_model=lambda: C.head_classifier(8))
    with pytest.raises(ValueError, match="ids"):
        D.run_search(x[None], ids[:-1], syn[None], n_negatives=10, **args)
    with pytest.raises(ValueError, match="unique"):
        D.run_search(x[None], np.zeros(500, int), syn[None], n_negatives=10, **args)
    with pytest.raises(ValueError, match="synthetic"):
        D.run_search(x[None], ids, syn[None, :0], n_negatives=10, **args)
    with pytest.raises(ValueError, match="n_negatives"):
        D.run_search(x[None], ids, syn[None], n_negatives=10**6, **args)


def test_score_against_truth_counts():
    ids = np.array([1, 2, 3, 4, 5])
    truth = np.array([1, 1, 0, 1, 0], bool)
    sc = D.score_against_truth([1, 3], ids, truth, known_ids=[1])
    assert sc["purity"] == 0.5 and sc["completeness"] == pytest.approx(1 / 3)
    assert sc["purity_new"] == 0.0 and sc["completeness_new"] == 0.0 and sc["n_true_new"] == 2
    with pytest.raises(ValueError, match="not in the survey"):
        D.score_against_truth([9], ids, truth)


def test_matched_control_follows_target_distribution():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    target = pd.DataFrame({"z": rng.normal(0.08, 0.02, 300), "logmstar": rng.normal(10.8, 0.2, 300)})
    pool = pd.DataFrame({"z": rng.uniform(0.0, 0.2, 20000), "logmstar": rng.uniform(9, 12, 20000),
                         "logsfr": 0.0})
    ctrl = D.matched_control(target, pool, 400, seed=1)
    assert len(ctrl) == 400 and ctrl.attrs["n_reused"] == 0 and ctrl.index.is_unique
    for c in ("z", "logmstar"):
        assert ks_2samp(ctrl[c], target[c]).statistic < 0.15
        assert ks_2samp(pool[c], target[c]).statistic > 0.3
    with pytest.raises(ValueError, match="lacks columns"):
        D.matched_control(target, pool.drop(columns="z"), 10)


def test_bootstrap_cdf_band_contains_cdf_and_narrows_with_n():
    rng = np.random.default_rng(0)
    grid = np.linspace(-3, 3, 50)
    small = D.bootstrap_cdf(np.r_[rng.normal(size=50), np.nan], grid, n_boot=200)
    big = D.bootstrap_cdf(rng.normal(size=2000), grid, n_boot=200)
    assert small["n"] == 50 and small["n_nan"] == 1
    assert np.all(small["lo"] <= small["cdf"] + 1e-12) and np.all(small["cdf"] <= small["hi"] + 1e-12)
    assert (big["hi"] - big["lo"]).max() < (small["hi"] - small["lo"]).max()
    assert np.all(np.diff(big["cdf"]) >= 0) and big["cdf"][-1] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="no finite"):
        D.bootstrap_cdf([np.nan], grid)


def test_kde_integrates_to_one():
    grid = np.linspace(-6, 6, 600)
    dens = D.kde(np.random.default_rng(0).normal(size=500), grid)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="distinct"):
        D.kde([1.0, 1.0], grid)


def test_plots_build():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    samples = {k: pd.DataFrame({"z": rng.uniform(0, 0.1, 40), "logsfr": rng.normal(size=40)})
               for k in ("new", "known", "control")}
    fig = D.plot_cdf_panels(samples, [("z", "z"), ("logsfr", "SFR")], n_boot=20)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3
    fig2 = D.plot_kdes(samples, "z", np.linspace(0, 0.1, 50), "z")
    assert len(fig2.axes[0].lines) == 3
    imgs = rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    fig3 = D.image_rows([("a", imgs), ("b", imgs[:0])], n_cols=4)
    assert len(fig3.axes) == 8
    assert [t.get_text() for t in fig3.axes[4].texts] == ["b: none"]  # an empty row still says which


def test_search_without_synthetic_is_reported_not_run():
    x, ids, truth, syn = survey(n=300)
    cat, rounds = D.run_search(x[None], ids, None, [], C.TrainSettings(), lambda: C.head_classifier(8),
                               n_negatives=10)
    assert cat.empty and list(cat.columns) == list(D.CATALOG_COLUMNS)
    tab = D.search_table(rounds, cat, len(ids))
    assert len(tab) == 1 and "no synthetic" in tab.note.iloc[0]


def test_search_table_rows_and_paper_values():
    rounds = pd.DataFrame({"round": [1, 2], "n_candidates": [100, 40], "n_flagged": [120, 60],
                           "n_accepted": [30, 10], "n_candidates_true": [35, 12]})
    cat = pd.DataFrame({"id": range(40), "in_known_catalog": [True] * 10 + [False] * 30})
    tab = D.search_table(rounds, cat, 20000, {"purity": 0.9})
    r1 = tab[(tab["round"] == "1") & (tab.quantity == "candidates vetted")].iloc[0]
    assert r1.ours == 100 and r1.paper == 8184
    fin = tab[tab["round"] == "final"].set_index("quantity")
    assert fin.loc["accepted, not in known catalog", "ours"] == 30
    assert fin.loc["accepted, not in known catalog", "paper"] == 520
    assert fin.loc["purity (mock truth)", "ours"] == 0.9


def test_make_reviewers_mock_and_real(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("id,reviewer,answer,round,time\n1,reviewer_1,true,1,0\n")
    revs, log = D.make_reviewers("real", p)
    assert [r.name for r in revs] == ["reviewer_1", "reviewer_2", "reviewer_3"]
    assert log.answers("reviewer_1") == {1: True}  # a person's answers are kept
    revs, log = D.make_reviewers("mock", p, truth={1: True}, miss_rate=0.0, false_yes_rate=0.0)
    assert not p.exists() and all(r.review([1])[0] for r in revs)
    with pytest.raises(ValueError, match="truth"):
        D.make_reviewers("mock", p)


def test_comparison_samples_matches_new_or_falls_back_to_known():
    rng = np.random.default_rng(0)
    n = 4000
    phys = pd.DataFrame({"dr7objid": np.arange(n), "z": rng.uniform(0.01, 0.2, n),
                         "logmstar": rng.uniform(9, 12, n)})
    etg = rng.random(n) < 0.5
    s, note = D.comparison_samples(phys, found_ids=range(0, 60), known_ids=range(50, 80), etg=etg,
                                   n_control=100)
    assert len(s["new"]) == 50 and len(s["known"]) == 30 and len(s["control"]) == 100
    assert not s["control"]["dr7objid"].isin(range(0, 80)).any()
    assert "new sample" in note
    s, note = D.comparison_samples(phys, found_ids=[1], known_ids=range(50, 80), etg=etg, n_control=20)
    assert "known sample" in note and len(s["new"]) == 1


def test_catalog_rows_aligns_and_names_stale_inputs():
    cat = pd.DataFrame({"dr7objid": [5, 3, 9], "z": [0.1, 0.2, 0.3]})
    assert D.catalog_rows(cat, [9, 5]).z.tolist() == [0.3, 0.1]
    with pytest.raises(ValueError, match="rerun notebooks 01 and 07"):
        D.catalog_rows(cat, [9, 4])


def test_clean_etgs_excludes_flagged_and_known():
    from raregal.paper_b.labels import column, stem_of

    tags = pd.DataFrame({"dr7objid": [1, 2, 3, 4, 5], "tag_completely_round": [1, 1, 0, 1, 0],
                         "tag_in_between_round": [0, 0, 1, 0, 0],
                         "known_detg": [0, 0, 0, 1, 0]}).astype({"tag_completely_round": bool,
                                                                 "tag_in_between_round": bool,
                                                                 "known_detg": bool})
    cat = pd.DataFrame({"dr7objid": [1, 2, 3, 4, 5], column(stem_of("t08", "a38"), "count"): [0, 2, 0, 0, 0]})
    assert D.clean_etgs(tags, cat).tolist() == [1, 3]


def test_search_with_vetting_shows_widget_then_stops(tmp_path, monkeypatch):
    from raregal.core.images import write_images

    x, ids, truth, syn = survey(n=600, seed=4)
    write_images(tmp_path / "img", ids, np.zeros((len(ids), 8, 8, 3), np.uint8))
    shown = []
    monkeypatch.setattr(V.VettingWidget, "show", lambda self: shown.append((self.reviewer, self.remaining)))
    log = V.VettingLog(tmp_path / "log.csv")
    with pytest.raises(V.PendingReview):
        D.search_with_vetting(x[None], ids, syn[None], [V.LogReviewer("ann", log)],
                              C.TrainSettings(lr=1e-2, epochs=1, batch_size=256),
                              lambda: C.head_classifier(8), n_negatives=100, min_votes=1, log=log,
                              image_dir=tmp_path / "img")
    assert shown and shown[0][0] == "ann" and shown[0][1] > 0
