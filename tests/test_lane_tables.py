"""The reference samples and lane-rate tables (raregal.paper_b.lane_tables) on tiny drawn galaxies."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from drawn_galaxies import ANY_LANE, FOV, SIZE, draw

from raregal.paper_b import lane_statistic, lane_tables


def test_reference_groups_from_truth_and_from_tags():
    catalog = pd.DataFrame({"dr7objid": [1, 2, 3, 4, 5], "true_detg": [True, False, False, False, False],
                            "true_class": ["smooth", "smooth", "features", "features", "features"],
                            "true_dust_lane": [True, False, True, False, True],
                            "true_edge_on": [False, False, True, True, False]})
    groups, basis = lane_tables.reference_groups(pd.DataFrame(), catalog)
    assert basis == "mock truth"
    assert {k: v.tolist() for k, v in groups.items()} == {
        "D-ETG": [1], "ETG without lane": [2], "edge-on disk with lane": [3],
        "edge-on disk without lane": [4]}
    tags = pd.DataFrame({"dr7objid": [1, 2, 3, 4, 5], "known_detg": [False, False, False, False, True]})
    for t in ("smooth", "completely_round", "in_between_round", "cigar_shaped", "dust_lane", "edge_on"):
        tags[f"tag_{t}"] = False
    tags.loc[0, ["tag_smooth", "tag_dust_lane"]] = True
    tags.loc[1, "tag_completely_round"] = True
    tags.loc[2, ["tag_edge_on", "tag_dust_lane"]] = True
    tags.loc[3, "tag_edge_on"] = True
    groups, basis = lane_tables.reference_groups(tags, catalog.drop(columns="true_detg"))
    assert basis == "volunteer tags"
    assert {k: v.tolist() for k, v in groups.items()} == {
        "D-ETG": [1, 5], "ETG without lane": [2], "edge-on disk with lane": [3],
        "edge-on disk without lane": [4]}
    with pytest.raises(ValueError, match="rerun 07_gz2_labels"):
        lane_tables.reference_groups(tags.drop(columns="tag_edge_on"))


def test_paired_rates_and_rate_table():
    with_lane = draw(4, lane_angle_deg=45.0, seed=7)
    table = lane_tables.paired_lane_rates(ANY_LANE, {"K: dust lane": (with_lane, draw(4, seed=7))})
    values = dict(zip(table["quantity"], table["ours"]))
    assert values["flagged fraction with the phrase"] == 1.0
    assert values["flagged fraction without (same seeds)"] == 0.0
    assert np.isnan(values["ratio with / without"])  # nothing flagged without: no ratio, and it says so
    assert "none flagged" in table["note"].iloc[-1]
    both = lane_tables.paired_lane_rates(ANY_LANE, {"L": (with_lane, with_lane[[0, 1, 2, 2]])})
    assert both["ours"].iloc[-1] == pytest.approx(1.0)
    cal = lane_statistic.LaneCalibration(0.0, 0.0, 0.05, FOV, {"fpr": 0.04, "tpr": 0.8, "n_negative": 50,
                                                                "n_positive": 10})
    rates = lane_tables.calibration_rates(cal, {"edge-on disk with lane":
                                                   lane_statistic.lane_statistic(with_lane, FOV)})
    assert rates["ours"].tolist() == [0.8, 0.04, 1.0] and rates["n"].tolist() == [10, 50, 4]


class DictStore:
    """The part of ``core.image_store.ImageStore`` the reference statistics use, over a dict of images."""

    def __init__(self, images: dict[int, np.ndarray]):
        self.images = images

    def iter_batches(self, ids, size=None, batch_size=512):
        from raregal.core.images import ImageBatch

        ids = list(ids)
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            have = [i for i in chunk if i in self.images]
            lost = pd.DataFrame({"id": [i for i in chunk if i not in self.images], "reason": "missing"})
            yield ImageBatch(np.stack([self.images[i] for i in have]) if have else
                             np.zeros((0, SIZE, SIZE, 3), np.uint8), np.array(have, np.int64), lost)


def test_reference_statistics_read_in_batches_count_drops_and_calibrate():
    lanes = draw(6, lane_angle_deg=100.0, seed=30)
    smooth = draw(10, seed=31)
    store = DictStore({**dict(enumerate(lanes)), **{100 + i: im for i, im in enumerate(smooth)}})
    groups = {"D-ETG": np.r_[np.arange(6), 999], "ETG without lane": np.arange(100, 110),
              "edge-on disk with lane": np.array([998]), "edge-on disk without lane": np.array([], np.int64)}
    stats, drops = lane_tables.reference_statistics(store, groups, FOV, batch_size=4)
    assert [len(stats[g]) for g in groups] == [6, 10, 0, 0]
    assert drops["D-ETG"]["id"].tolist() == [999] and drops["edge-on disk with lane"]["id"].tolist() == [998]
    np.testing.assert_allclose(stats["D-ETG"].depth, lane_statistic.lane_statistic(lanes, FOV).depth,
                               rtol=1e-5)  # float32 sums in batches of 4 vs 6 differ in the last bits
    cal = lane_tables.calibrate_groups(stats, 0.05, FOV, seed=0, basis="drawn")
    assert (cal.heldout["n_positive"], cal.heldout["n_negative"]) == (3, 5)
    assert cal.heldout["tpr"] == 1.0 and cal.heldout["fpr"] == 0.0
    rates = lane_tables.calibration_rates(cal, {g: stats[g] for g in list(groups)[2:]})
    assert np.isnan(rates["ours"].iloc[-1]) and rates["n"].iloc[-1] == 0  # an empty group: no rate, n = 0
