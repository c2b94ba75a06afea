"""Votes → well-sampled tags → prompts (Ma et al. 2025 §3.1), on hand-made Hart16-schema rows (as the
real catalog). The tree, thresholds and catalog checks themselves are tested in test_gz2_schema.py."""
import numpy as np
import pandas as pd
import pytest
from hart16_rows import BARRED, catalog, galaxy

from raregal.core import gz2_schema
from raregal.paper_b import labels


def test_every_tag_is_an_answer_of_the_tree_and_skips_the_non_informative_ones():
    answers = set(zip(labels.TAGS.task, labels.TAGS.answer))
    for task, answer in answers:
        gz2_schema.stem_of(task, answer)
    assert labels.TAGS.name.is_unique and labels.TAGS.phrase.is_unique
    assert not answers & set(zip(labels.NON_INFORMATIVE.task, labels.NON_INFORMATIVE.answer))
    assert set(labels.EARLY_TYPE_TAGS) <= set(labels.TAG_NAMES)


def test_threshold_chain_votes_and_debiased(tmp_path):
    rows = [
        galaxy(1, **BARRED),  # passes everything
        galaxy(2, **{**BARRED, "t01_a02": (0.40, 0.9)}),  # p(features) 0.40 < 0.430
        galaxy(3, **{**BARRED, "t02_a05": (0.70, 0.9)}),  # p(not edge-on) 0.70 < 0.715
        galaxy(4, n=21, **BARRED),  # t03 gets 19 votes (set below)
        galaxy(5, **{**BARRED, "t03_a06": (0.85, 0.79)}),  # debiased below 0.8
    ]
    cat = catalog(rows, tmp_path)
    # t03 votes: a06 set here + a07 = round(0.15 n); row 4: 16 + 3
    cat.loc[:, gz2_schema.column(gz2_schema.stem_of("t03", "a06"), "count")] = [31, 31, 31, 16, 31]
    flags = labels.well_sampled_tags(cat)
    assert flags.tag_bar.tolist() == [True, False, False, False, False]
    assert flags.tag_features_or_disk.tolist() == [True, True, True, True, True]
    assert not flags.tag_edge_on.any()


PAPER_PROMPTS = {  # Ma et al. 2025 Table 1 (+ Fig. 7 weighted prompts)
    "cigar-shaped galaxy": ["cigar_shaped"],
    "edge-on galaxy, with rounded edge-on bulge": ["edge_on", "edge_on_bulge_rounded"],
    "spiral galaxy with loosely wound 2 spiral arms": ["spiral", "winding_loose", "arms_2"],
    "spiral galaxy with 4 spiral arms": ["spiral", "arms_4"],
    "spiral galaxy with just noticeable central bulge prominence": ["spiral", "bulge_just_noticeable"],
    "spiral galaxy, just noticeable bulge prominence, merger": ["spiral", "bulge_just_noticeable",
                                                                 "merger"],
    "bar-shaped structure in the center of galaxy": ["bar"],
    "edge-on galaxy, {dust lane:1.3}, with rounded edge-on bulge": ["edge_on", "dust_lane",
                                                                    "edge_on_bulge_rounded"],
    "sdss, {completely round:1.2} galaxy, {dust lane:1.3}": ["completely_round", "dust_lane"],
    "sdss, smooth, cigar shaped galaxy": ["smooth", "cigar_shaped"],
    "spiral galaxy with more than 4 spiral arms": ["spiral", "arms_more_than_4"],
}


@pytest.mark.parametrize("prompt,tags", PAPER_PROMPTS.items())
def test_paper_prompts_parse(prompt, tags):
    assert labels.tags_from_prompt(prompt) == [t for t in labels.TAG_NAMES if t in tags]


def test_prompt_round_trip_every_tag_and_random_sets():
    rng = np.random.default_rng(0)
    for t in labels.TAG_NAMES:
        assert labels.tags_from_prompt(labels.prompt_from_tags([t])) == [t]
    for _ in range(200):
        tags = list(rng.choice(labels.TAG_NAMES, size=rng.integers(1, 6), replace=False))
        prompt = labels.prompt_from_tags(tags, rng, weights={tags[0]: 1.3}, prefix="sdss")
        assert prompt.startswith("sdss, ")
        assert labels.tags_from_prompt(prompt) == [t for t in labels.TAG_NAMES if t in tags]


def test_shuffled_prompt_order_varies_but_tags_do_not():
    tags = ["spiral", "bar", "merger", "dust_lane"]
    prompts = {labels.prompt_from_tags(tags, np.random.default_rng(s)) for s in range(20)}
    assert len(prompts) > 5
    assert {tuple(labels.tags_from_prompt(p)) for p in prompts} == {tuple(labels.tags_from_prompt(
        labels.prompt_from_tags(tags)))}


def test_unknown_tags_and_phrases_are_errors_listing_the_valid_ones():
    with pytest.raises(labels.UnknownTagError, match="valid tags: smooth"):
        labels.prompt_from_tags(["spiral", "lenticular"])
    with pytest.raises(labels.UnknownTagError, match="names no known tag.*cigar-shaped galaxy"):
        labels.tags_from_prompt("spiral galaxy, purple galaxy")


def test_balance_caps_each_label_and_keeps_rare_ones_whole():
    label_strings = ["smooth|completely_round"] * 500 + ["spiral"] * 300 + ["ring"] * 7 + [""] * 50
    keep = labels.balance_by_label(label_strings, cap=100, seed=1)
    lab = pd.Series(label_strings)
    assert lab[keep].value_counts().to_dict() == {"smooth|completely_round": 100, "spiral": 100,
                                                 "ring": 7}
    np.testing.assert_array_equal(keep, labels.balance_by_label(label_strings, cap=100, seed=1))
    assert not np.array_equal(keep, labels.balance_by_label(label_strings, cap=100, seed=2))
    with pytest.raises(ValueError, match="cap"):
        labels.balance_by_label(label_strings, cap=0)


def test_tag_table_excludes_detg_and_early_type_dust(tmp_path):
    dusty_round = dict(t01_a01=(0.9, 0.9), t01_a02=(0.1, 0.1), t07_a16=(0.9, 0.9),
                       t07_a17=(0.1, 0.1), t06_a14=(0.9, 0.9), t06_a15=(0.1, 0.1),
                       t08_a38=(0.9, 0.9), t08_a24=(0.1, 0.1))
    rows = [galaxy(1, n=60, **dusty_round), galaxy(2, **BARRED), galaxy(3, **BARRED),
            galaxy(4, n=5, **BARRED)]
    cat = catalog(rows, tmp_path)
    table = labels.build_tag_table(cat, cap=10, seed=0, known_detg=[3])
    assert table.dr7objid.tolist() == [1, 2, 3, 4]
    assert table.tags[0] == "smooth|completely_round|dust_lane"
    assert table.in_diffusion_train.tolist() == [False, True, False, False]  # 4: no tags (5 votes)
    assert table.known_detg.tolist() == [False, False, True, False]
    for tags, prompt in zip(table.tags, table.prompt):
        assert labels.tags_from_prompt(prompt) == (tags.split("|") if tags else [])
    counts = labels.tag_counts(table).set_index(["tag", "quantity"])
    assert counts.ours["bar", "well-sampled"] == 2 and counts.ours["bar", "after balancing"] == 1
    assert counts.paper["smooth + completely_round", "well-sampled"] == 14_835
    up = labels.upset_counts(table)
    assert up.sum() == 1 and up.index.names == list(labels.PRIMARY_TAGS)
    summary = labels.data_summary(len(cat), table).set_index("quantity")
    assert summary.loc["well-sampled galaxies", "ours"] == 3
    assert summary.loc["galaxies in catalog", "paper"] == 239_695


def test_truth_labels_need_the_mock_truth(tmp_path):
    cat = catalog([galaxy(1, **BARRED)], tmp_path)
    with pytest.raises(gz2_schema.CatalogError, match="true_spiral"):
        labels.truth_labels(cat)
    truth = pd.DataFrame({"true_class": ["features"], "true_spiral": [True], "true_edge_on": [False],
                          "true_bar": [True], "true_bulge_prominence": ["obvious"],
                          "true_detg": [False]})
    cat = pd.concat([cat, truth], axis=1)
    lab = labels.truth_labels(cat)
    assert lab.iloc[0][["spiral", "edge_on_disk", "bar", "bulge", "detg"]].tolist() == [
        True, False, True, True, False]
