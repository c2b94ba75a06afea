"""Realism / diversity / consistency (Ma et al. 2025 eq. 1–6) on synthetic embeddings with known answers."""
import numpy as np
import pandas as pd
import pytest

from raregal.paper_b import gen_metrics


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_identical_sets_have_realism_one():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8))
    assert gen_metrics.realism(x, x) == pytest.approx(1.0)
    assert gen_metrics.realism(x, 3 * x[:5]) == pytest.approx(1.0)  # cosine: scale-free


def test_realism_and_diversity_hand_values():
    real = np.array([[1.0, 0.0], [0.0, 1.0]])
    gen = np.array([[1.0, 0.0], [1.0, 1.0]])
    # max cos per generated image: 1 and 1/sqrt2
    assert gen_metrics.realism(real, gen) == pytest.approx((1 + 2**-0.5) / 2)
    # all pairs: (1 + 0 + 1/sqrt2 + 1/sqrt2) / 4
    assert gen_metrics.diversity(real, gen) == pytest.approx((1 + 2 * 2**-0.5) / 4)
    # a generator that copies one real image is realistic but not varied: D rises
    copies = np.repeat(real[:1], 4, axis=0)
    spread = _unit([[1, 0], [0, 1], [1, 1], [1, -0.2]])
    assert gen_metrics.realism(real, copies) == pytest.approx(1.0)
    assert gen_metrics.diversity(real[:1], copies) > gen_metrics.diversity(real[:1], spread)
    with pytest.raises(ValueError, match="at least one"):
        gen_metrics.realism(real, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="one d"):
        gen_metrics.diversity(real, np.zeros((3, 5)))


def test_consistency_counts_asked_questions():
    answers = np.array([[1, 0, 1], [0, 0, 1]], bool)
    assert gen_metrics.consistency(answers, [1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert gen_metrics.consistency(answers, [1, np.nan, np.nan]) == pytest.approx(0.5)  # Q_j = 1
    assert gen_metrics.consistency(answers, [[1, 0, 1], [0, 0, 1]]) == 1.0
    with pytest.raises(ValueError, match="no asked question"):
        gen_metrics.consistency(answers, [np.nan] * 3)


def test_expected_answers_from_prompt_tags():
    exp = gen_metrics.expected_answers({"A": ["cigar_shaped"], "M": ["bar"], "F": ["spiral", "arms_4"]})
    assert list(exp.columns) == list(gen_metrics.QUESTIONS["question"]) and len(exp.columns) == 11
    assert exp.loc["A", "cigar"] == 1 and exp.loc["A", "round"] == 0 and exp.loc["A", "bar"] == 0
    assert exp.loc["M"].sum() == 1
    assert exp.loc["F", ["spiral", "many_arms"]].tolist() == [1, 1] and exp.loc["F"].sum() == 2
    with pytest.raises(ValueError, match="none of its tags"):
        gen_metrics.expected_answers({"X": ["no such tag"]})
    truth = gen_metrics.tag_answers([["bar", "winding_loose"], []])
    assert truth.shape == (2, 11) and truth[0].sum() == 2 and truth[1].sum() == 0


def _clustered(n_per, centres, rng, noise=0.3):
    x = np.concatenate([c + noise * rng.normal(size=(n_per, len(c))) for c in centres])
    y = np.repeat(np.arange(len(centres)), n_per)
    return x, y


def test_question_classifiers_on_separable_features_and_skips():
    rng = np.random.default_rng(1)
    n = 200
    truth = rng.random((n, 11)) < 0.5
    truth[:, 10] = False
    truth[:3, 10] = True  # too rare to fit (dust lane)
    feats = np.where(truth, 2.0, -2.0) + 0.5 * rng.normal(size=(n, 11))
    qc = gen_metrics.QuestionClassifiers.fit(feats, truth, min_positives=10, seed=0)
    rep = qc.report.set_index("question")
    assert rep.loc["dust_lane", "status"].startswith("skipped: 3 examples")
    assert (rep.drop(index="dust_lane")["accuracy"] > 0.95).all()
    assert qc.fitted == list(gen_metrics.QUESTIONS["question"][:10])
    pred = qc.predict(feats)
    assert (pred[:, :10] == truth[:, :10]).mean() > 0.95 and not pred[:, 10].any()
    exp = qc.mask(gen_metrics.expected_answers({"A": ["cigar_shaped"]}))
    assert np.isnan(exp.loc["A", "dust_lane"]) and exp.loc["A", "cigar"] == 1
    with pytest.raises(ValueError, match=r"truth must be \(N, 11\)"):
        gen_metrics.QuestionClassifiers.fit(feats, truth[:, :5])


def _toy_world(seed=0):
    """3 conditions = 3 clusters; answers: question q is 'yes' exactly for condition q."""
    rng = np.random.default_rng(seed)
    centres = 5 * np.eye(3, 6)
    emb, lab = _clustered(30, centres, rng)
    conds = np.array(["A", "B", "C"])[lab]
    member = pd.DataFrame({c: conds == c for c in "ABC"})
    questions = gen_metrics.QUESTIONS.iloc[:3].reset_index(drop=True)
    expected = pd.DataFrame(np.eye(3), index=list("ABC"), columns=list(questions["question"]))
    return emb, conds, member, expected


def test_ceiling_beats_shuffled_and_noise_floor():
    emb, conds, member, expected = _toy_world()
    ref, held = gen_metrics.split_reference(member, 0.3, seed=0)
    assert ref.sum() + held.sum() == len(member) and not (ref & held).any()
    rows, cond = gen_metrics.as_generated(member[held])
    g = emb[held][rows]
    answers = np.eye(3, dtype=bool)[["ABC".index(c) for c in cond]]  # perfect classifiers
    ceil, skipped = gen_metrics.evaluate(emb[ref], member[ref], g, cond, answers, expected)
    assert skipped.empty and list(ceil["condition"]) == list("ABC")
    sc = gen_metrics.summarise(ceil)
    assert sc["consistency"] == 1.0 and sc["realism"] > 0.9

    wrong = gen_metrics.shuffle_conditions(cond, seed=0)
    assert (wrong != cond).all()
    floor, _ = gen_metrics.evaluate(emb[ref], member[ref], g, wrong, answers, expected)
    sf = gen_metrics.summarise(floor)
    assert sf["consistency"] < 0.5 and sf["realism"] < sc["realism"]
    assert sf["diversity"] < sc["diversity"]  # wrong-cluster pairs are dissimilar


def test_empty_condition_is_reported_by_name():
    emb, conds, member, expected = _toy_world()
    member["D"] = False
    expected.loc["D"] = [0, 0, 1]
    gen_cond = np.array(["A"] * 5 + ["D"] * 3, dtype=object)
    answers = np.zeros((8, 3), bool)
    per, skipped = gen_metrics.evaluate(emb, member, emb[:8], gen_cond, answers, expected)
    assert list(per["condition"]) == ["A"]
    assert skipped.set_index("condition")["reason"].to_dict() == {
        "B": "no generated images", "C": "no generated images", "D": "no real images"}
    assert skipped.set_index("condition").loc["D", "n_gen"] == 3
    with pytest.raises(ValueError, match="unknown condition"):
        gen_metrics.evaluate(emb, member, emb[:1], ["Z"], answers[:1], expected)
    with pytest.raises(ValueError, match="no condition could be scored"):
        gen_metrics.summarise(per.iloc[:0])


def test_pixel_shuffle_keeps_colours_destroys_structure():
    rng = np.random.default_rng(0)
    img = np.zeros((2, 3, 8, 8), np.float32)
    img[:, :, 2:6, 2:6] = rng.random((2, 3, 1, 1))
    out = gen_metrics.pixel_shuffle(img, seed=0)
    np.testing.assert_allclose(np.sort(out.reshape(2, 3, -1), -1), np.sort(img.reshape(2, 3, -1), -1))
    assert not np.allclose(out, img)
    # the same permutation across channels: each pixel keeps its colour
    colours = [set(map(tuple, x[0].reshape(3, -1).T.round(6))) for x in (out, img)]
    assert colours[0] == colours[1]


def test_pareto_front():
    r = [0.9, 0.8, 0.95, 0.7, 0.85]
    d = [0.5, 0.3, 0.7, 0.2, 0.6]   # lower diversity value = more varied = better
    front = gen_metrics.pareto_front(r, d)
    assert list(front) == [3, 1, 0, 2]  # point 4 is beaten by point 0 on both
    assert list(gen_metrics.pareto_front([0.5, 0.5], [0.2, 0.2])) == [0, 1]  # ties are both kept


def test_question_tags_are_in_the_vocabulary():
    from raregal.paper_b.labels import TAG_NAMES

    for q, tags in zip(gen_metrics.QUESTIONS["question"], gen_metrics.QUESTIONS["tags"]):
        assert set(tags) <= set(TAG_NAMES), q
    assert len(gen_metrics.QUESTIONS) == 11 and gen_metrics.QUESTIONS["question"].is_unique


def _tags(rows):
    from raregal.paper_b.labels import TAG_NAMES

    return pd.DataFrame([{f"tag_{t}": t in r for t in TAG_NAMES} for r in rows])


def test_condition_members_and_prompt_types():
    tab = _tags([["spiral", "arms_4"], ["spiral"], ["edge_on", "dust_lane"], []])
    m = gen_metrics.condition_members(tab, {"F": ["spiral", "arms_4"], "S": ["spiral"],
                                            "L": ["edge_on", "dust_lane"]})
    assert m["F"].tolist() == [True, False, False, False]
    assert m["S"].tolist() == [True, True, False, False]  # a superset of the prompt's tags counts
    assert m["L"].tolist() == [False, False, True, False]
    with pytest.raises(KeyError, match="tag_nope"):
        gen_metrics.condition_members(tab, {"X": ["nope"]})
    assert gen_metrics.prompt_type(["edge_on", "dust_lane"]) == "odd feature"
    assert gen_metrics.prompt_type(["edge_on", "edge_on_bulge_rounded"]) == "edge-on"
    assert gen_metrics.prompt_type(["cigar_shaped"]) == "smooth" and gen_metrics.prompt_type([]) == "other"


def test_score_set_and_long_metrics():
    emb, conds, member, expected = _toy_world()
    answers = np.eye(3, dtype=bool)[["ABC".index(c) for c in conds]]
    per, skipped = gen_metrics.score_set("step 5", emb, conds, answers, emb, member, expected)
    assert (per["method"] == "step 5").all() and skipped.empty
    assert per["realism"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    long = gen_metrics.long_metrics(per.assign(step=5), keys=("method", "step"))
    allrow = long[(long.condition == "all") & (long.quantity == "consistency")]
    assert len(allrow) == 1 and allrow.ours.iloc[0] == 1.0 and allrow.n.iloc[0] == 90
    assert long.paper.isna().all() and len(long) == 3 * (3 + 1)
    two = pd.concat([per, per[per.condition != "C"].assign(method="other", realism=0.5)])
    assert gen_metrics.common_conditions(two) == ["A", "B"]
    sub = gen_metrics.long_metrics(two, mean_over=["A", "B"])
    r = sub[(sub.condition == "all") & (sub.quantity == "realism")].set_index("method").ours
    assert r["step 5"] == pytest.approx(1.0) and r["other"] == pytest.approx(0.5)
    assert sub[sub.condition == "all"].note.str.contains("A,B").all()
