"""Votes → well-sampled tags → prompts, on a hand-made Hart16-schema csv (as the real catalog)."""
import numpy as np
import pandas as pd
import pytest

from raregal.core import gz2_schema
from raregal.paper_b import labels


def _galaxy(dr7objid, n=40, **answers):
    """One Hart16 row: ``answers`` maps 'tNN_aMM' → (fraction, debiased) for the answered tasks.

    Counts are n × parent fraction × fraction so child counts follow the tree; unanswered tasks
    get zero votes.
    """
    row = {"dr7objid": dr7objid, "ra": 150.0, "dec": 2.0, "total_classifications": n,
           "total_votes": 0, "gz2_class": "x"}
    for stem in gz2_schema.TREE.stem:
        for kind in gz2_schema.COUNT_KINDS:
            row[gz2_schema.column(stem, kind)] = 0
    for key, (frac, deb) in answers.items():
        task, ans = key.split("_")
        stem = gz2_schema.stem_of(task, ans)
        row[gz2_schema.column(stem, "count")] = int(round(frac * n))
        row[gz2_schema.column(stem, "fraction")] = frac
        row[gz2_schema.column(stem, "weighted_fraction")] = frac
        row[gz2_schema.column(stem, "debiased")] = deb
    return row


def _catalog(rows, tmp_path):
    """Write the rows as gz2_hart16.csv.gz and read them back the way the pipeline does."""
    pd.DataFrame(rows).to_csv(tmp_path / gz2_schema.CATALOG_FILE, index=False)
    return gz2_schema.read_catalog(tmp_path)


BARRED = dict(t01_a02=(0.9, 0.9), t01_a01=(0.1, 0.1), t02_a05=(0.9, 0.9), t02_a04=(0.1, 0.1),
              t03_a06=(0.85, 0.85), t03_a07=(0.15, 0.15))


def test_tree_is_the_gz2_tree():
    assert len(gz2_schema.TASKS) == 11 and len(gz2_schema.TREE) == 37
    assert "t01_smooth_or_features_a01_smooth" in set(gz2_schema.TREE.stem)
    assert "a35" not in set(gz2_schema.TREE.answer)  # GZ2 has no a35
    # every "next" task exists and every tag names a real answer
    assert set(gz2_schema.TREE.next) - {""} <= set(gz2_schema.TASKS)
    for row in labels.TAGS.itertuples():
        gz2_schema.stem_of(row.task, row.answer)
    assert gz2_schema.THRESHOLDS.loc["t03", "threshold"] == 0.715


def test_threshold_chain_votes_and_debiased(tmp_path):
    rows = [
        _galaxy(1, **BARRED),  # passes everything
        _galaxy(2, **{**BARRED, "t01_a02": (0.40, 0.9)}),  # p(features) 0.40 < 0.430
        _galaxy(3, **{**BARRED, "t02_a05": (0.70, 0.9)}),  # p(not edge-on) 0.70 < 0.715
        _galaxy(4, n=21, **BARRED),  # t03 gets 19 votes (set below)
        _galaxy(5, **{**BARRED, "t03_a06": (0.85, 0.79)}),  # debiased below 0.8
    ]
    cat = _catalog(rows, tmp_path)
    # t03 votes: a06 set here + a07 = round(0.15 n)
    cat.loc[:, gz2_schema.column(gz2_schema.stem_of("t03", "a06"), "count")] = [31, 31, 31, 16, 31]  # row 4: 16+3
    flags = labels.well_sampled_tags(cat)
    assert flags.tag_bar.tolist() == [True, False, False, False, False]
    assert flags.tag_features_or_disk.tolist() == [True, True, True, True, True]
    assert not flags.tag_edge_on.any()


def test_validate_catalog_names_missing_columns_and_counts_drops(tmp_path):
    cat = _catalog([_galaxy(i, **BARRED) for i in range(1, 6)], tmp_path)
    with pytest.raises(gz2_schema.CatalogError, match="t01_smooth_or_features_a01_smooth_debiased"):
        gz2_schema.validate_catalog(cat.drop(columns=[gz2_schema.column(gz2_schema.stem_of("t01", "a01"), "debiased")]))
    bad = cat.copy()
    c = gz2_schema.column(gz2_schema.stem_of("t03", "a06"), "count")
    bad[c] = bad[c].astype(float)
    bad.loc[1, c] = np.nan
    bad.loc[2, c] = -3
    bad.loc[3, "dr7objid"] = 1  # duplicate of row 0
    kept, drops = gz2_schema.validate_catalog(bad)
    assert len(kept) == 2 and len(drops) == 3
    assert sorted(drops.reason) == ["NaN vote count", "duplicate dr7objid", "negative vote count"]


PAPER_PROMPTS = {  # seed 004 Table 1 (+ Fig. 7 weighted prompts)
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
    rows = [_galaxy(1, n=60, **dusty_round), _galaxy(2, **BARRED), _galaxy(3, **BARRED),
            _galaxy(4, n=5, **BARRED)]
    cat = _catalog(rows, tmp_path)
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
    cat = _catalog([_galaxy(1, **BARRED)], tmp_path)
    with pytest.raises(gz2_schema.CatalogError, match="true_spiral"):
        labels.truth_labels(cat)
    truth = pd.DataFrame({"true_class": ["features"], "true_spiral": [True], "true_edge_on": [False],
                          "true_bar": [True], "true_bulge_prominence": ["obvious"],
                          "true_detg": [False]})
    cat = pd.concat([cat, truth], axis=1)
    lab = labels.truth_labels(cat)
    assert lab.iloc[0][["spiral", "edge_on_disk", "bar", "bulge", "detg"]].tolist() == [
        True, False, True, True, False]


def test_read_catalog_names_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="01_fetch"):
        gz2_schema.read_catalog(tmp_path)
    assert gz2_schema.read_known_detg(tmp_path) is None
