"""The GZ2 tree, the Willett et al. (2013) Table 3 threshold chain and the Hart16 catalog checks and readers,
on hand-made Hart16-schema rows (as the real catalog)."""
import numpy as np
import pandas as pd
import pytest
from hart16_rows import BARRED, catalog, galaxy

from raregal.core import gz2_schema


def test_tree_is_the_gz2_tree():
    assert len(gz2_schema.TASKS) == 11 and len(gz2_schema.TREE) == 37
    assert "t01_smooth_or_features_a01_smooth" in set(gz2_schema.TREE.stem)
    assert "a35" not in set(gz2_schema.TREE.answer)  # GZ2 has no a35
    assert set(gz2_schema.TREE.next) - {""} <= set(gz2_schema.TASKS)  # every "next" task exists
    assert gz2_schema.THRESHOLDS.loc["t03", "threshold"] == 0.715
    # every threshold points at an earlier answer that exists in the tree
    for task, th in gz2_schema.THRESHOLDS.iterrows():
        gz2_schema.stem_of(th.parent_task, th.parent_answer)
        assert gz2_schema.TASKS.index(th.parent_task) < gz2_schema.TASKS.index(task)
    assert gz2_schema.stem_of("t03", "a06") == "t03_bar_a06_bar"
    with pytest.raises(KeyError, match="no answer a06 in task t01"):
        gz2_schema.stem_of("t01", "a06")


def test_threshold_chain_follows_the_tree_and_counts_votes(tmp_path):
    rows = [
        galaxy(1, **BARRED),  # passes everything
        galaxy(2, **{**BARRED, "t01_a02": (0.40, 0.9)}),  # p(features) 0.40 < 0.430: t02 and below fail
        galaxy(3, **{**BARRED, "t02_a05": (0.70, 0.9)}),  # p(not edge-on) 0.70 < 0.715: t03 fails
        galaxy(4, n=21, **BARRED),  # t03 gets 16 + 3 = 19 votes (set below)
    ]
    cat = catalog(rows, tmp_path)
    cat.loc[:, gz2_schema.column(gz2_schema.stem_of("t03", "a06"), "count")] = [31, 31, 31, 16]
    votes = gz2_schema.task_votes(cat)
    assert votes.t03.tolist() == [37, 37, 37, 19] and votes.t01.tolist() == [40, 20, 40, 21]
    ok = gz2_schema.task_well_answered(cat)
    assert ok.t01.tolist() == [True, True, True, True]
    assert ok.t02.tolist() == [True, False, True, True]
    assert ok.t03.tolist() == [True, False, False, False]
    assert not ok.t07.any()  # p(smooth) 0.1 < 0.469
    assert gz2_schema.task_well_answered(cat, min_votes=19).t03.tolist() == [True, False, False, True]


def test_validate_catalog_names_missing_columns_and_counts_drops(tmp_path):
    cat = catalog([galaxy(i, **BARRED) for i in range(1, 6)], tmp_path)
    with pytest.raises(gz2_schema.CatalogError, match="t01_smooth_or_features_a01_smooth_debiased"):
        gz2_schema.validate_catalog(cat.drop(columns=[gz2_schema.column(gz2_schema.stem_of("t01", "a01"),
                                                                        "debiased")]))
    bad = cat.copy()
    c = gz2_schema.column(gz2_schema.stem_of("t03", "a06"), "count")
    bad[c] = bad[c].astype(float)
    bad.loc[1, c] = np.nan
    bad.loc[2, c] = -3
    bad.loc[3, "dr7objid"] = 1  # duplicate of row 0
    kept, drops = gz2_schema.validate_catalog(bad)
    assert len(kept) == 2 and len(drops) == 3
    assert sorted(drops.reason) == ["NaN vote count", "duplicate dr7objid", "negative vote count"]
    assert kept.dr7objid.tolist() == [1, 5] and kept.dr7objid.dtype == np.int64


def test_read_catalog_names_the_notebook_and_known_detg_is_optional(tmp_path):
    with pytest.raises(FileNotFoundError, match="01_fetch"):
        gz2_schema.read_catalog(tmp_path)
    assert gz2_schema.read_known_detg(tmp_path) is None
    pd.DataFrame({"dr7objid": [7, 3], "ra": [1.0, 2.0]}).to_csv(tmp_path / gz2_schema.KNOWN_DETG_FILE,
                                                                index=False)
    assert gz2_schema.read_known_detg(tmp_path).tolist() == [7, 3]
    pd.DataFrame({"objid": [7]}).to_csv(tmp_path / gz2_schema.KNOWN_DETG_FILE, index=False)
    with pytest.raises(gz2_schema.CatalogError, match="needs a dr7objid column"):
        gz2_schema.read_known_detg(tmp_path)
