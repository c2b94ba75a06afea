"""SimCLR evaluation on known geometry: the linear probe and its table, morphology classes, the
training sample that leaves galaxies for the probe, t-SNE and cosine separation."""
import numpy as np
import pandas as pd
import pytest

from raregal.paper_b import simclr


def test_linear_probe_separable_and_random():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    sep = rng.normal(size=(120, 5)) + 4 * np.eye(3, 5)[y]
    res = simclr.linear_probe(sep, y, seed=0)
    assert res["accuracy"] > 0.95 and res["n_test"] == 36
    noise = simclr.linear_probe(rng.normal(size=(120, 5)), y, seed=0)
    assert noise["accuracy"] < 0.6 and noise["chance"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        simclr.linear_probe(sep, np.zeros(120))
    with pytest.raises(ValueError, match="fewer than 2"):
        simclr.linear_probe(sep, np.r_[np.zeros(119), 1])


def _tag_table(rows):
    from raregal.paper_b.labels import TAG_NAMES

    return pd.DataFrame([{f"tag_{t}": t in r for t in TAG_NAMES} for r in rows])


def test_morphology_class_priority_and_probe_labels():
    from raregal.paper_b.labels import TAG_NAMES

    assert set(simclr.MORPHOLOGY_ORDER) <= set(TAG_NAMES)
    tab = _tag_table([["spiral", "bar"], ["edge_on", "dust_lane"], ["completely_round"], [], ["arms_2"]])
    assert list(simclr.morphology_class(tab)) == ["bar", "dust_lane", "completely_round", "", ""]
    labels = simclr.probe_labels(tab)
    assert list(labels["spiral"]) == [True, False, False, False, False]
    assert list(labels["smooth"]) == [False, False, True, False, False]
    with pytest.raises(KeyError, match="tag_merger"):
        simclr.morphology_class(tab.drop(columns="tag_merger"))


def test_probe_table_long_format_and_separation():
    rng = np.random.default_rng(0)
    cls = np.array(["a", "b", ""] * 40, dtype=object)
    binary = rng.random(120) < 0.5
    good = np.c_[np.eye(3)[np.searchsorted(["", "a", "b"], cls)] * 5, binary * 5.0] + rng.normal(size=(120, 4))
    tab = simclr.probe_table({"trained": good, "random": rng.normal(size=(120, 4))},
                             {"morphology class": cls, "flag": binary}, seed=0)
    assert set(tab.columns) >= {"task", "encoder", "quantity", "ours", "paper", "n"}
    t = tab.set_index(["task", "encoder", "quantity"])["ours"]
    assert t["morphology class", "trained", "accuracy"] > 0.95
    assert t["flag", "trained", "accuracy"] > 0.95 and t["flag", "random", "accuracy"] < 0.75
    assert tab.set_index(["task", "encoder", "quantity"]).loc[("morphology class", "trained", "accuracy"),
                                                              "n"] == 24  # '' rows left out: 80 * 0.3


def test_training_sample_leaves_galaxies_for_the_probe_or_names_the_sample_size():
    ids = np.arange(1000, 1200)
    well = np.arange(200) % 2 == 0  # 100 well-sampled
    rng = np.random.default_rng(0)
    train, note = simclr.training_sample(ids, well, 50, rng)
    again = np.sort(np.random.default_rng(0).choice(ids, 50, replace=False))
    np.testing.assert_array_equal(train, again)  # enough left out: the plain draw, nothing scaled
    assert note == ""
    for n_train in (200, 500, None):  # the whole sample asked for: galaxies are kept out first
        train, note = simclr.training_sample(ids, well, n_train, np.random.default_rng(1))
        held = np.setdiff1d(ids[well], train)
        assert len(held) >= simclr.MIN_HELD_OUT and len(train) == 200 - len(held)
        assert f"simclr.n_train = {n_train}" in note and f"SimCLR trains on {len(train)}" in note
    with pytest.raises(ValueError, match=r"need 20 well-sampled .* has 19 well-sampled of 200: .*"
                                         r"survey_b.n_galaxies"):
        simclr.training_sample(ids, np.arange(200) < 19, 10, rng)


def test_probe_table_names_rare_classes_and_skips_degenerate_tasks():
    rng = np.random.default_rng(0)
    y = np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 2, dtype=object)
    f = rng.normal(size=(62, 3))
    tab = simclr.probe_table({"enc": f}, {"cls": y, "one": np.r_[np.ones(60, bool), np.zeros(2, bool)]})
    assert tab[tab.task == "cls"].note.str.startswith("left out (< 5 galaxies): c;").all()
    one = tab[tab.task == "one"]
    assert len(one) == 1 and np.isnan(one.ours.iloc[0]) and "skipped" in one.note.iloc[0]


def test_tsne_keeps_separated_clusters_apart():
    rng = np.random.default_rng(0)
    f = np.r_[rng.normal(size=(20, 6)), rng.normal(size=(20, 6)) + 12]
    xy = simclr.tsne_2d(f, seed=0, max_iter=250)
    assert xy.shape == (40, 2)
    a, b = xy[:20], xy[20:]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 2 * max(a.std(0).max(), b.std(0).max())
    with pytest.raises(ValueError, match="at least 5"):
        simclr.tsne_2d(f[:3])


def test_cosine_separation_known_geometry():
    f = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], float)
    sep = simclr.cosine_separation(f, np.array(["a", "a", "b", "b"], dtype=object))
    assert sep["within"] == pytest.approx(np.cos(np.arctan(0.1)))
    assert sep["gap"] > 0.8
    same_dir = simclr.cosine_separation(np.ones((4, 2)) + [[0], [0], [1e-3], [1e-3]], [0, 0, 1, 1])
    assert same_dir["gap"] == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="2 classes"):
        simclr.cosine_separation(f, np.zeros(4))
