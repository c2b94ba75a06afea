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
    # plain shares (eq. 5 as printed): 3/3 and 2/3
    assert gen_metrics.consistency(answers, [1, 0, 1], balanced=False) == pytest.approx((1 + 2 / 3) / 2)
    # balanced: image 2 gets 1/2 of its "yes" questions and 1/1 of its "no" question -> 3/4
    assert gen_metrics.consistency(answers, [1, 0, 1]) == pytest.approx((1 + 0.75) / 2)
    assert gen_metrics.consistency(answers, [1, np.nan, np.nan]) == pytest.approx(0.5)  # Q_j = 1
    assert gen_metrics.consistency(answers, [[1, 0, 1], [0, 0, 1]]) == 1.0
    with pytest.raises(ValueError, match="no asked question"):
        gen_metrics.consistency(answers, [np.nan] * 3)


def test_balanced_consistency_does_not_reward_answering_no():
    """A prompt names 1 of 11 features: "no" to everything scored 10/11 before; now it is at chance."""
    expected = np.zeros(11)
    expected[3] = 1
    all_no = np.zeros((50, 11), bool)
    assert gen_metrics.consistency(all_no, expected, balanced=False) == pytest.approx(10 / 11)
    assert gen_metrics.consistency(all_no, expected) == pytest.approx(0.5)
    assert gen_metrics.consistency(~all_no, expected) == pytest.approx(0.5)  # "yes" to everything too
    coin = np.random.default_rng(0).random((4000, 11)) < 0.5
    assert gen_metrics.consistency(coin, expected) == pytest.approx(0.5, abs=0.02)
    right = expected.astype(bool)[None].repeat(50, axis=0)
    assert gen_metrics.consistency(right, expected) == 1.0
    right[:, 0] = True  # one wrong "yes" among 10 "no" questions costs 1/20
    assert gen_metrics.consistency(right, expected) == pytest.approx(1 - 0.1 / 2)


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


# ---------------------------------------------------------------------------------------------
# the whitened space of eq. 1 and 3 (raregal.paper_b.metric_space)
# ---------------------------------------------------------------------------------------------
def _flux_dominated_world(seed=0, n_per=100):
    """Embeddings of two conditions whose galaxies differ in 4 'morphology' directions (±1, spread 0.3)
    while 2 'flux and colour' directions (spread 10) vary freely; pixel-shuffled noise keeps a galaxy's
    flux and colour but loses its morphology (it sits between the conditions)."""
    rng = np.random.default_rng(seed)
    cond = np.repeat([0, 1], n_per)
    flux = 10 * rng.normal(size=(2 * n_per, 2))
    morph = np.where(cond[:, None] == 0, 1.0, -1.0) + 0.3 * rng.normal(size=(2 * n_per, 4))
    real = np.hstack([flux, morph])
    noise = np.hstack([flux, 0.3 * rng.normal(size=(2 * n_per, 4))])
    return real, noise, cond


def _realism_by_condition(ref, ref_cond, gen, gen_cond):
    return np.mean([gen_metrics.realism(ref[ref_cond == c], gen[gen_cond == c]) for c in (0, 1)])


def test_whitening_on_real_galaxies_makes_noise_score_below_real():
    from raregal.paper_b.metric_space import WhitenedSpace

    real, noise, cond = _flux_dominated_world()
    ref = np.arange(len(real)) % 3 != 0  # 2/3 reference, 1/3 held-out real
    raw = {"held": _realism_by_condition(real[ref], cond[ref], real[~ref], cond[~ref]),
           "noise": _realism_by_condition(real[ref], cond[ref], noise[~ref], cond[~ref])}
    space = WhitenedSpace.fit(real[ref])
    w_ref, w_held, w_noise = (space.transform(x) for x in (real[ref], real[~ref], noise[~ref]))
    white = {"held": _realism_by_condition(w_ref, cond[ref], w_held, cond[~ref]),
             "noise": _realism_by_condition(w_ref, cond[ref], w_noise, cond[~ref])}
    assert raw["held"] - raw["noise"] < 0.02  # on raw embeddings flux decides: noise looks real
    assert white["held"] > 0.9 and white["held"] - white["noise"] > 0.08  # measured: 0.958 and 0.095


def test_whitened_space_fit_and_transform():
    from raregal.paper_b.metric_space import WhitenedSpace

    rng = np.random.default_rng(2)
    scales = np.array([10.0, 3.0, 1.0, 0.01])  # the last direction: 1e-6 of the variance
    x = rng.normal(size=(500, 4)) * scales @ np.linalg.qr(rng.normal(size=(4, 4)))[0] + 5.0
    space = WhitenedSpace.fit(x, variance_kept=0.999)
    assert space.dim == 3 and space.variance_kept >= 0.999 and space.note == "" and space.n_reference == 500
    w = space.transform(x)
    np.testing.assert_allclose(w.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(np.cov(w.T), np.eye(3), atol=1e-9)  # unit variance, uncorrelated
    assert WhitenedSpace.fit(x, variance_kept=0.9).dim == 1
    assert WhitenedSpace.fit(x, variance_kept=1.0).dim == 4
    few = WhitenedSpace.fit(x[:25], variance_kept=1.0)  # 25 galaxies support 2 directions, not 4
    assert few.dim == 2 and "kept 2" in few.note and "kept 2" in few.describe()
    with pytest.raises(ValueError, match=r"expected embeddings \(N, 4\)"):
        space.transform(x[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        WhitenedSpace.fit(np.where(np.eye(500, 4) > 0, np.nan, x))
    with pytest.raises(ValueError, match="all identical"):
        WhitenedSpace.fit(np.ones((10, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        WhitenedSpace.fit(x[:1])
