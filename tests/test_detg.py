"""D-ETG task: Table 3 and its published values, the iterative search with vetting, truth scoring,
control sample, CDFs, plots."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from raregal.paper_b import classifiers, detg, values, vetting


def survey(n=3000, frac=0.01, d=8, seed=0):
    """Features where true D-ETGs sit in a shifted blob, ids like dr7objids, the truth, and synthetic
    D-ETGs drawn from the same blob."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < frac
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[truth, :3] += 2.5
    ids = np.arange(n, dtype=np.int64) * 7 + 10**15
    syn = rng.normal(size=(300, d)).astype(np.float32)
    syn[:, :3] += 2.5
    return x, ids, truth, syn


TRAIN = classifiers.TrainSettings(lr=1e-2, epochs=2, batch_size=256)
TRAIN_ONE_EPOCH = classifiers.TrainSettings(lr=1e-2, epochs=1, batch_size=256)


def head8():
    """A linear head on the 8 survey features."""
    return classifiers.head_classifier(8)


def _f1_within_rounding(purity, completeness, f1, step=0.005):
    """Is a published F1 what purity and completeness, each rounded to two decimals, allow?"""
    p = np.array([purity - step, purity + step])[:, None]
    c = np.array([completeness - step, completeness + step])[None, :]
    bounds = 2 * p * c / (p + c)
    return bounds.min() - step <= f1 <= bounds.max() + step


def test_published_table3_f1_agrees_with_its_purity_and_completeness():
    # a typo in the transcription of Ma et al. (2025) Table 3 breaks F1 = 2PC / (P + C)
    wide = values.PAPER_TABLE3.pivot_table(index="method", columns="quantity", values="paper")
    assert sorted(wide.index) == sorted(classifiers.METHODS)
    for method, row in wide.iterrows():
        assert _f1_within_rounding(row["purity"], row["completeness"], row["f1"]), method


def test_table3_summary_carries_the_published_value_of_each_row():
    x, ids, truth, syn = survey()
    published = values.PAPER_TABLE3.set_index(["method", "quantity"])["paper"]
    for synthetic, seeds in ((syn[None], [0, 1]), (None, [0])):
        per = detg.run_table3(x[None], truth, TRAIN, head8, n_negatives=1000, seeds=seeds,
                              synthetic_views=synthetic, synthetic_note="not run: no generator here")
        assert (per["n_positives"] == 10).all() and (per["n_negatives"] == 1000).all()
        table = detg.table3_summary(per)
        gain = table[table["method"] == "augmented - baseline"]
        table = table[table["method"] != "augmented - baseline"]
        assert list(table.columns[:4]) == ["method", "quantity", "ours", "paper"] and len(table) == 9
        rows = table.set_index(["method", "quantity"])
        pd.testing.assert_series_equal(rows["paper"], published.loc[rows.index], check_names=False)
        if synthetic is None:  # no augmented arm: no gain to state
            assert gain.empty
        else:  # the paper's gain, 0.66 - 0.43, beside ours over the two splits
            f1 = rows.xs("f1", level="quantity")["ours"]
            assert len(gain) == 1 and np.isclose(gain["paper"].iloc[0], 0.23)
            assert np.isclose(gain["ours"].iloc[0], f1["augmented"] - f1["baseline"]) and gain["n"].iloc[0] == 2
            assert f"largest possible gain (1 - baseline F1): {1 - f1['baseline']:.3f}" in gain["note"].iloc[0]
    # without synthetic D-ETGs the augmented arm is not run, and the paper's value still stands beside it
    aug = rows.xs("augmented", level="method")
    assert aug["ours"].isna().all() and (aug["note"] == "not run: no generator here").all()
    assert rows.drop(index="augmented", level="method")["ours"].notna().all()


def test_table3_on_the_mock_draws_no_unlisted_true_detg_as_a_negative(monkeypatch):
    # half the true D-ETGs are in the known list; the other half must never be drawn as negatives
    x, _, truth, _ = survey(n=4000, frac=0.05)
    known = truth & (np.cumsum(truth) % 2 == 0)
    eligible = detg.clean_negatives(known, truth)
    assert eligible[known].all() and not eligible[truth & ~known].any() and eligible[~truth].all()
    assert detg.clean_negatives(known, None) is None  # real data: every galaxy may be drawn
    with pytest.raises(ValueError, match="truth flags"):
        detg.clean_negatives(known, truth[:-1])
    drawn = []
    real_split = classifiers.split_task

    def spy(*args, **kwargs):
        split = real_split(*args, **kwargs)
        drawn.append(np.concatenate(list(split.values())))
        return split

    from raregal.paper_b.classifiers import table2

    monkeypatch.setattr(table2, "split_task", spy)
    per = detg.run_table3(x[None], known, TRAIN_ONE_EPOCH, head8, n_negatives=1000, seeds=[0, 1],
                          eligible=eligible)
    assert len(drawn) == 2 and per["ours"].notna().any()
    for rows in drawn:
        assert not (truth & ~known)[rows].any() and known[rows].sum() == 10
    # without the mask the same draw does take unlisted D-ETGs as negatives (the test can fail)
    drawn.clear()
    detg.run_table3(x[None], known, TRAIN_ONE_EPOCH, head8, n_negatives=1000, seeds=[0])
    assert (truth & ~known)[drawn[0]].any()


def test_table3_split_keeps_ratio():
    known = np.zeros(5000, bool)
    known[:80] = True
    s = detg.table3_split(known, n_negatives=3000, seed=0)
    rows = np.concatenate(list(s.values()))
    assert known[rows].sum() == 30 and (~known[rows]).sum() == 3000
    assert known[s["test"]].sum() == 3


def test_search_finds_detgs_with_perfect_reviewers(tmp_path):
    x, ids, truth, syn = survey()
    revs = [vetting.SimulatedReviewer(n, dict(zip(ids.tolist(), truth.tolist())), 0, 0) for n in "abc"]
    log = vetting.VettingLog(tmp_path / "log.csv")
    known = ids[truth][:5]
    train = classifiers.TrainSettings(lr=1e-2, epochs=3, batch_size=256)
    settings = detg.SearchSettings(n_negatives=600, train=train, n_rounds=3, seed=0)
    cat, rounds = detg.run_search(detg.Survey(x[None], ids, known, truth), syn[None], revs, settings, head8,
                                  log=log)
    assert list(cat.columns) == list(detg.CATALOG_COLUMNS)
    assert len(rounds) == 3 and rounds["round"].tolist() == [1, 2, 3]
    # perfect reviewers: everything accepted is a true D-ETG, every vetted id is in the log x3
    assert truth[np.isin(ids, cat["id"])].all()
    assert len(log.read()) == 3 * rounds["n_candidates"].sum()
    assert cat["id"].is_unique and (cat["votes"] == 3).all()
    assert cat["in_known_catalog"].sum() == np.isin(cat["id"], known).sum()
    assert (rounds["n_accepted_true"] == rounds["n_accepted"]).all()
    # a galaxy is vetted once: later rounds only see new candidates
    assert rounds["n_candidates"].sum() == len(np.unique(log.read()["id"]))
    sc = detg.score_against_truth(cat["id"], ids, truth, known)
    assert sc["purity"] == 1.0 and sc["completeness"] > 0.6
    assert sc["n_true_new"] == truth.sum() - 5


def test_search_two_of_three_and_cap():
    x, ids, truth, syn = survey(seed=1)
    t = dict(zip(ids.tolist(), truth.tolist()))
    liar = vetting.SimulatedReviewer("c", t, 1.0, 1.0)  # always wrong
    revs = [vetting.SimulatedReviewer("a", t, 0, 0), vetting.SimulatedReviewer("b", t, 0, 0), liar]
    settings = detg.SearchSettings(n_negatives=500, train=TRAIN, n_rounds=2, max_candidates=10)
    cat, rounds = detg.run_search(detg.Survey(x[None], ids, truth=truth), syn[None], revs, settings, head8)
    assert (rounds["n_candidates"] <= 10).all()
    assert (cat["votes"] == 2).all() and truth[np.isin(ids, cat["id"])].all()
    assert (rounds["n_candidates"] + rounds["n_not_vetted_over_cap"] <= rounds["n_flagged"]).all()


def test_search_stops_for_pending_human_review(tmp_path):
    x, ids, truth, syn = survey(n=800, seed=2)
    log = vetting.VettingLog(tmp_path / "log.csv")
    with pytest.raises(vetting.PendingReview):
        detg.run_search(detg.Survey(x[None], ids), syn[None], [vetting.LogReviewer("me", log)],
                        detg.SearchSettings(n_negatives=200, train=TRAIN_ONE_EPOCH, min_votes=1), head8)


def test_search_refuses_bad_input():
    x, ids, truth, syn = survey(n=500)
    ten = detg.SearchSettings(n_negatives=10)
    with pytest.raises(ValueError, match="ids"):
        detg.run_search(detg.Survey(x[None], ids[:-1]), syn[None], [], ten, head8)
    with pytest.raises(ValueError, match="unique"):
        detg.run_search(detg.Survey(x[None], np.zeros(500, int)), syn[None], [], ten, head8)
    with pytest.raises(ValueError, match="synthetic"):
        detg.run_search(detg.Survey(x[None], ids), syn[None, :0], [], ten, head8)
    with pytest.raises(ValueError, match=r"1\.\.500 \(the galaxies searched\), got 1000000: lower "
                                         r"detg.search_negatives"):
        detg.run_search(detg.Survey(x[None], ids), syn[None], [], detg.SearchSettings(n_negatives=10**6),
                        head8)


def test_search_negatives_scale_to_a_small_sample_and_say_so():
    assert detg.scaled_search_negatives(3000, 20000) == (3000, "")  # the profile's value fits: kept
    n, note = detg.scaled_search_negatives(3000, 999)
    assert n == 499 and note == ("detg.search_negatives = 3000 is more than 50% of the 999 galaxies "
                                 "searched: 499 random negatives drawn")
    with pytest.raises(ValueError, match=r"search_negatives = 10, but the catalog has 1 galaxies; .*"
                                         r"survey_b.n_galaxies"):
        detg.scaled_search_negatives(10, 1)


def test_score_against_truth_counts():
    ids = np.array([1, 2, 3, 4, 5])
    truth = np.array([1, 1, 0, 1, 0], bool)
    sc = detg.score_against_truth([1, 3], ids, truth, known_ids=[1])
    assert sc["purity"] == 0.5 and sc["completeness"] == pytest.approx(1 / 3)
    assert sc["purity_new"] == 0.0 and sc["completeness_new"] == 0.0 and sc["n_true_new"] == 2
    with pytest.raises(ValueError, match="not in the survey"):
        detg.score_against_truth([9], ids, truth)


def test_matched_control_follows_target_distribution():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    target = pd.DataFrame({"z": rng.normal(0.08, 0.02, 300), "logmstar": rng.normal(10.8, 0.2, 300)})
    pool = pd.DataFrame({"z": rng.uniform(0.0, 0.2, 20000), "logmstar": rng.uniform(9, 12, 20000),
                         "logsfr": 0.0})
    ctrl = detg.matched_control(target, pool, 400, seed=1)
    assert len(ctrl) == 400 and ctrl.attrs["n_reused"] == 0 and ctrl.index.is_unique
    for c in ("z", "logmstar"):
        assert ks_2samp(ctrl[c], target[c]).statistic < 0.15
        assert ks_2samp(pool[c], target[c]).statistic > 0.3
    with pytest.raises(ValueError, match="lacks columns"):
        detg.matched_control(target, pool.drop(columns="z"), 10)


def test_bootstrap_cdf_band_contains_cdf_and_narrows_with_n():
    rng = np.random.default_rng(0)
    grid = np.linspace(-3, 3, 50)
    small = detg.bootstrap_cdf(np.r_[rng.normal(size=50), np.nan], grid, n_boot=200)
    big = detg.bootstrap_cdf(rng.normal(size=2000), grid, n_boot=200)
    assert small["n"] == 50 and small["n_nan"] == 1
    assert np.all(small["lo"] <= small["cdf"] + 1e-12) and np.all(small["cdf"] <= small["hi"] + 1e-12)
    assert (big["hi"] - big["lo"]).max() < (small["hi"] - small["lo"]).max()
    assert np.all(np.diff(big["cdf"]) >= 0) and big["cdf"][-1] == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="no finite"):
        detg.bootstrap_cdf([np.nan], grid)


def test_kde_integrates_to_one():
    grid = np.linspace(-6, 6, 600)
    dens = detg.kde(np.random.default_rng(0).normal(size=500), grid)
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="distinct"):
        detg.kde([1.0, 1.0], grid)


def test_plots_draw_each_sample_with_its_colour_and_data():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    samples = {k: pd.DataFrame({"z": rng.uniform(0, 0.1, 40), "logsfr": rng.normal(size=40)})
               for k in ("new", "known", "control")}
    fig = detg.plot_cdf_panels(samples, [("z", "z"), ("logsfr", "SFR")], n_boot=20, seed=3)
    assert [ax.get_xlabel() for ax in fig.axes] == ["z", "SFR"]
    for ax, column in zip(fig.axes, ["z", "logsfr"]):
        assert len(ax.collections) == 3  # one 1σ band per sample
        for line, (name, df) in zip(ax.lines, samples.items()):
            grid = line.get_xdata()
            np.testing.assert_allclose(line.get_ydata(), detg.bootstrap_cdf(df[column], grid, 20, 3)["cdf"])
            assert line.get_color() == detg.SAMPLE_COLOURS[name] and line.get_label() == f"{name} (n=40)"
    grid = np.linspace(0, 0.1, 50)
    samples["known"] = samples["known"].assign(z=np.r_[0.05, np.full(39, np.nan)])  # no density
    fig2 = detg.plot_kdes(samples, "z", grid, "redshift")
    assert [line.get_label() for line in fig2.axes[0].lines] == ["new (n=40)", "control (n=40)"]
    np.testing.assert_allclose(fig2.axes[0].lines[0].get_ydata(), detg.kde(samples["new"]["z"], grid))
    imgs = rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8)
    fig3 = detg.image_rows([("a", imgs), ("b", imgs[:0])], n_cols=4)
    top, bottom = fig3.axes[:4], fig3.axes[4:]
    for j in range(3):
        np.testing.assert_array_equal(top[j].images[0].get_array(), imgs[j])
    assert not top[3].axison and not top[3].images  # fewer images than columns: the rest blank
    assert top[0].get_ylabel() == "a\n(n=3)"
    assert not any(ax.images for ax in bottom)
    assert [t.get_text() for t in bottom[0].texts] == ["b: none"]  # an empty row still says which


def test_search_without_synthetic_is_reported_not_run():
    x, ids, truth, syn = survey(n=300)
    cat, rounds = detg.run_search(detg.Survey(x[None], ids), None, [], detg.SearchSettings(n_negatives=10),
                                  head8)
    assert cat.empty and list(cat.columns) == list(detg.CATALOG_COLUMNS)
    tab = detg.search_table(rounds, cat, len(ids))
    assert len(tab) == 1 and "no synthetic" in tab.note.iloc[0]


def test_search_table_rows_and_paper_values():
    rounds = pd.DataFrame({"round": [1, 2], "n_candidates": [100, 40], "n_flagged": [120, 60],
                           "n_accepted": [30, 10], "n_candidates_true": [35, 12]})
    cat = pd.DataFrame({"id": range(40), "in_known_catalog": [True] * 10 + [False] * 30})
    tab = detg.search_table(rounds, cat, 20000, {"purity": 0.9})
    r1 = tab[(tab["round"] == "1") & (tab.quantity == "candidates vetted")].iloc[0]
    assert r1.ours == 100 and r1.paper == 8184
    fin = tab[tab["round"] == "final"].set_index("quantity")
    assert fin.loc["accepted, not in known catalog", "ours"] == 30
    assert fin.loc["accepted, not in known catalog", "paper"] == 520
    assert fin.loc["purity (mock truth)", "ours"] == 0.9
    # a round the paper did not have (it ran three) has no published value beside ours
    fourth = detg.search_table(rounds.assign(round=[1, 4]), cat, 20000)
    assert fourth.loc[fourth["round"] == "4", "paper"].isna().all()
    assert fourth.loc[fourth["round"] == "4", "ours"].notna().all()


def test_make_reviewers_mock_and_real(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("id,reviewer,answer,round,time\n1,reviewer_1,true,1,0\n")
    revs, log = detg.make_reviewers("real", p)
    assert [r.name for r in revs] == ["reviewer_1", "reviewer_2", "reviewer_3"]
    assert log.answers("reviewer_1") == {1: True}  # a person's answers are kept
    revs, log = detg.make_reviewers("mock", p, truth={1: True}, miss_rate=0.0, false_yes_rate=0.0)
    assert not p.exists() and all(r.review([1])[0] for r in revs)
    with pytest.raises(ValueError, match="truth"):
        detg.make_reviewers("mock", p)


def test_table3_and_new_vs_known_say_they_need_the_known_list():
    x, ids, truth, syn = survey(n=500)
    per = detg.run_table3(x[None], None, TRAIN, head8, n_negatives=100, seeds=[0, 1], synthetic_views=syn[None])
    table = detg.table3_summary(per)
    assert len(table) == 9 and table.ours.isna().all() and table.paper.notna().all()
    assert (table.note == f"not run: {detg.NO_KNOWN_LIST}").all()
    # too few known D-ETGs for a split: the note names the profile value and the sizes
    per = detg.run_table3(x[None], np.arange(500) < 3, TRAIN, head8, n_negatives=1000, seeds=[0])
    assert per.note.str.contains("need 10 positives and 1000 negatives, have 3 and 497 — lower "
                                 "detg.n_negatives").all()
    rounds = pd.DataFrame({"round": [1], "n_candidates": [10], "n_flagged": [12], "n_accepted": [4]})
    cat = pd.DataFrame({"id": range(4), "in_known_catalog": False})
    fin = detg.search_table(rounds, cat, 1000, known_list=False).set_index("quantity")
    assert fin.loc["accepted", "ours"] == 4  # the search itself ran
    for q in ("accepted, not in known catalog", "new / catalog"):
        assert np.isnan(fin.loc[q, "ours"]) and "needs the known D-ETG list" in fin.loc[q, "note"]


def test_figures_without_the_list_or_physical_columns_say_what_is_missing():
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    n = 400
    phys = pd.DataFrame({"dr7objid": np.arange(n), "z": rng.uniform(0.01, 0.2, n),
                         "logmstar": rng.uniform(9, 12, n), "logsfr": np.nan})
    s, note = detg.comparison_samples(phys, found_ids=range(0, 20), known_ids=None, etg=np.ones(n, bool),
                                      n_control=50)
    assert len(s["new"]) == 20 and s["known"].empty and len(s["control"]) == 50
    assert "needs the known D-ETG list" in s["known"].attrs["missing"]
    fig = detg.plot_cdf_panels(s, [("z", "z"), ("logsfr", "SFR")], n_boot=10)
    z_ax, sfr_ax = fig.axes
    assert [line.get_label() for line in z_ax.lines] == ["new (n=20)", "control (n=50)"]
    assert any("known: needs the known D-ETG list" in t.get_text() for t in z_ax.texts)
    assert not sfr_ax.lines and not sfr_ax.axison  # no SFR at all: no empty panel, but why
    assert "the catalog has no logsfr values" in sfr_ax.texts[0].get_text()
    nan_phys = phys.assign(z=np.nan, logmstar=np.nan)  # real data without physical columns
    s, note = detg.comparison_samples(nan_phys, range(0, 20), None, np.ones(n, bool), 50)
    assert s["control"].empty and note.startswith("no control sample (cannot match 50 rows")
    fig = detg.plot_kdes(s, "z", np.linspace(0, 0.2, 20), "redshift")
    assert not fig.axes[0].lines and "the catalog has no z values" in fig.axes[0].texts[0].get_text()


def test_comparison_samples_matches_new_or_falls_back_to_known():
    rng = np.random.default_rng(0)
    n = 4000
    phys = pd.DataFrame({"dr7objid": np.arange(n), "z": rng.uniform(0.01, 0.2, n),
                         "logmstar": rng.uniform(9, 12, n)})
    etg = rng.random(n) < 0.5
    s, note = detg.comparison_samples(phys, found_ids=range(0, 60), known_ids=range(50, 80), etg=etg,
                                   n_control=100)
    assert len(s["new"]) == 50 and len(s["known"]) == 30 and len(s["control"]) == 100
    assert not s["control"]["dr7objid"].isin(range(0, 80)).any()
    assert "new sample" in note
    s, note = detg.comparison_samples(phys, found_ids=[1], known_ids=range(50, 80), etg=etg, n_control=20)
    assert "known sample" in note and len(s["new"]) == 1


def test_catalog_rows_aligns_and_names_stale_inputs():
    cat = pd.DataFrame({"dr7objid": [5, 3, 9], "z": [0.1, 0.2, 0.3]})
    assert detg.catalog_rows(cat, [9, 5]).z.tolist() == [0.3, 0.1]
    with pytest.raises(ValueError, match="rerun notebooks 01 and 07"):
        detg.catalog_rows(cat, [9, 4])


def test_search_with_vetting_shows_widget_then_stops(tmp_path, monkeypatch):
    from raregal.core.images import write_images

    x, ids, truth, syn = survey(n=600, seed=4)
    write_images(tmp_path / "img", ids, np.zeros((len(ids), 8, 8, 3), np.uint8))
    shown = []
    monkeypatch.setattr(vetting.VettingWidget, "show",
                        lambda self: shown.append((self.reviewer, self.remaining)))
    log = vetting.VettingLog(tmp_path / "log.csv")
    with pytest.raises(vetting.PendingReview):
        detg.search_with_vetting(detg.Survey(x[None], ids), syn[None], [vetting.LogReviewer("ann", log)],
                                 detg.SearchSettings(n_negatives=100, train=TRAIN_ONE_EPOCH, min_votes=1),
                                 head8, log=log, image_dir=tmp_path / "img")
    assert shown and shown[0][0] == "ann" and shown[0][1] > 0
