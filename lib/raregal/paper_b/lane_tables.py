"""The reference samples and the lane-rate tables of notebooks 08 (``B-lane-rates``) and 12 (``B-fig6``).

Why apart from :mod:`raregal.paper_b.lane_statistic`: that module measures a band in pixels and turns
it into a flag; this one says which galaxies of a run the flag is calibrated and checked on (the mock's
truth, or notebook 07's volunteer tags on real data), where the calibration of a run lives, and how the
flagged fractions of real, generated and synthetic images are tabulated.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from raregal.paper_b.lane_statistic import (
    TARGET_FPR,
    LaneCalibration,
    LaneStats,
    calibrate_stats,
    flag,
    lane_statistic,
)

GROUPS = ("D-ETG", "ETG without lane", "edge-on disk with lane", "edge-on disk without lane")
CALIBRATION_FILE = "calibration.json"  # in data/processed/<source>-<profile>/lane_statistic/ (notebook 08)


def calibration_path(cfg) -> Path:
    """Where notebook 08 writes this run's lane calibration and notebook 12 reads it."""
    return cfg.data_dir("processed", "lane_statistic") / CALIBRATION_FILE


def reference_statistics(store, groups: dict[str, np.ndarray], fov_r90: float, size: int | None = None,
                         batch_size: int = 2048) -> tuple[dict[str, LaneStats], dict[str, pd.DataFrame]]:
    """The lane statistic of each group's images, read from ``store`` at ``size`` px (None: the store's)
    in batches (a survey's early types do not fit in memory at 424 px). Returns {group: LaneStats} and
    {group: drop table (id, reason)} of the ids the store could not read; an empty group gives empty
    statistics."""
    stats, drops = {}, {}
    for name, ids in groups.items():
        parts, lost = [], []
        for batch in store.iter_batches(ids, size, batch_size=batch_size):
            lost.append(batch.drops)
            if len(batch.ids):
                parts.append(lane_statistic(batch.images, fov_r90))
        stats[name] = LaneStats.concat(parts)
        drops[name] = pd.concat(lost, ignore_index=True) if lost else pd.DataFrame(columns=["id", "reason"])
    return stats, drops


def reference_groups(tags: pd.DataFrame,
                     catalog: pd.DataFrame | None = None) -> tuple[dict[str, np.ndarray], str]:
    """dr7objids of the four reference samples of ``GROUPS`` and what defines them.

    With the mock's truth in ``catalog`` (``true_detg``, ``true_class``, ``true_dust_lane``,
    ``true_edge_on``) the samples are the truth ("mock truth"). Real data has none, so they come from
    notebook 07's tags ("volunteer tags"): D-ETG = an early-type tag (``labels.EARLY_TYPE_TAGS``) with
    ``dust_lane``, or ``known_detg``; ETG without lane = an early-type tag, no ``dust_lane``, not known;
    edge-on disks by ``edge_on`` with or without ``dust_lane``.
    """
    truth = ["true_detg", "true_class", "true_dust_lane", "true_edge_on"]
    if catalog is not None and all(c in catalog.columns for c in truth):
        ids = catalog["dr7objid"].to_numpy(np.int64)
        lane, edge = catalog["true_dust_lane"].to_numpy(bool), catalog["true_edge_on"].to_numpy(bool)
        masks = [catalog["true_detg"].to_numpy(bool), (catalog["true_class"] == "smooth").to_numpy() & ~lane,
                 edge & lane, edge & ~lane]
        return dict(zip(GROUPS, (ids[m] for m in masks))), "mock truth"
    from raregal.paper_b.labels import EARLY_TYPE_TAGS

    need = [f"tag_{t}" for t in (*EARLY_TYPE_TAGS, "dust_lane", "edge_on")]
    missing = [c for c in need if c not in tags.columns]
    if missing:
        raise ValueError(f"the tag table lacks {missing}: rerun 07_gz2_labels")
    ids = tags["dr7objid"].to_numpy(np.int64)
    early = np.logical_or.reduce([tags[f"tag_{t}"].to_numpy(bool) for t in EARLY_TYPE_TAGS])
    lane, edge = tags["tag_dust_lane"].to_numpy(bool), tags["tag_edge_on"].to_numpy(bool)
    known = tags["known_detg"].to_numpy(bool) if "known_detg" in tags else np.zeros(len(tags), bool)
    masks = [(early & lane) | known, early & ~lane & ~known, edge & lane, edge & ~lane]
    return dict(zip(GROUPS, (ids[m] for m in masks))), "volunteer tags"


def calibrate_groups(group_stats: dict[str, LaneStats], target_fpr: float = TARGET_FPR, fov_r90: float = 4.24,
                     seed: int = 0, basis: str = "") -> LaneCalibration:
    """:func:`calibrate_stats` with the D-ETGs of ``group_stats`` (:func:`reference_statistics`) as the
    lanes and the early types without a lane as the rest."""
    pos, neg = group_stats[GROUPS[0]], group_stats[GROUPS[1]]
    labels = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    return calibrate_stats(LaneStats.concat([pos, neg]), labels, target_fpr, fov_r90, seed, basis)


def _rate_row(group: str, quantity: str, value: float, n: int, note: str) -> dict:
    return {"group": group, "quantity": quantity, "ours": value, "paper": np.nan, "n": n, "note": note}


def calibration_rates(calibration: LaneCalibration, group_stats: dict[str, LaneStats],
                      label: str = "mock") -> pd.DataFrame:
    """Flagged fraction of the reference samples: the two calibration samples on their held-out half
    (from ``calibration.heldout``) and every sample of ``group_stats`` whole (long table)."""
    held = calibration.heldout
    rows = [_rate_row(f"{label} D-ETG", "flagged fraction", held.get("tpr", np.nan),
                      held.get("n_positive", 0), "held-out half of the calibration sample"),
            _rate_row(f"{label} ETG without lane", "flagged fraction", held.get("fpr", np.nan),
                      held.get("n_negative", 0), f"held-out half; target ≤ {calibration.target_fpr:g}")]
    rows += [_rate_row(f"{label} {name}", "flagged fraction", float(flag(stats, calibration).mean())
                       if len(stats) else np.nan, len(stats), "not used in the fit")
             for name, stats in group_stats.items()]
    return pd.DataFrame(rows)


def paired_lane_rates(calibration: LaneCalibration,
                      pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """For each phrase pair (images generated with the phrase, the same seeds without it): flagged
    fraction with, without, and their ratio (NaN when nothing without the phrase is flagged).
    ``calibration.fov_r90`` is the generated images' field (they are trained on the store's images)."""
    rows = []
    for name, (with_phrase, without_phrase) in pairs.items():
        on = flag(lane_statistic(with_phrase, calibration.fov_r90), calibration)
        off = flag(lane_statistic(without_phrase, calibration.fov_r90), calibration)
        ratio = float(on.mean() / off.mean()) if off.any() else np.nan
        why = "NaN: none flagged without the phrase" if np.isnan(ratio) else ""
        rows += [_rate_row(f"generated {name}", quantity, value, len(on), note) for quantity, value, note in
                 (("flagged fraction with the phrase", float(on.mean()), ""),
                  ("flagged fraction without (same seeds)", float(off.mean()), ""),
                  ("ratio with / without", ratio, why))]
    return pd.DataFrame(rows)


def synthetic_lane_rates(calibration: LaneCalibration, images: np.ndarray | None, note: str = "",
                         label: str = "mock") -> pd.DataFrame:
    """Flagged fraction of synthetic D-ETGs (notebook 12, Fig. 6) beside the held-out rates of the
    calibration's real D-ETGs and early types without a lane; ``images`` None (no generator) gives NaN
    with ``note`` saying why."""
    if images is None or len(images) == 0:
        row = _rate_row("synthetic D-ETG", "flagged fraction", np.nan, 0, note or "no synthetic images")
    else:
        flagged = flag(lane_statistic(images, calibration.fov_r90), calibration)
        row = _rate_row("synthetic D-ETG", "flagged fraction", float(flagged.mean()), len(flagged), note)
    return pd.concat([pd.DataFrame([row]), calibration_rates(calibration, {}, label)], ignore_index=True)
