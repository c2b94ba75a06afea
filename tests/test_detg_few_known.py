"""Table 3 with few known D-ETGs in training (detg.run_table3_few_known, detg.few_known_summary)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.paper_b import classifiers, detg

TRAIN_ONE_EPOCH = classifiers.TrainSettings(lr=1e-2, epochs=1, batch_size=256)


def blob_survey(n=4000, frac=0.05, d=8, seed=0):
    """Features where true D-ETGs sit in a shifted blob, the truth, and synthetic D-ETGs from the blob."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < frac
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[truth, :3] += 2.5
    syn = rng.normal(size=(50, d)).astype(np.float32)
    syn[:, :3] += 2.5
    return x, truth, syn


def head8():
    return classifiers.head_classifier(8)


def test_few_known_keeps_table3_splits_but_only_k_known_detgs_in_training(monkeypatch):
    x, truth, syn = blob_survey()
    known = truth & (np.cumsum(truth) % 2 == 0)
    eligible = detg.clean_negatives(known, truth)
    seen = []
    real_run_arms = classifiers.run_arms

    def spy(views, labels, split, *args, **kwargs):
        seen.append({k: v.copy() for k, v in split.items()})
        return real_run_arms(views, labels, split, *args, **kwargs)

    monkeypatch.setattr(classifiers, "run_arms", spy)
    per = detg.run_table3_few_known(x[None], known, 3, TRAIN_ONE_EPOCH, head8, n_negatives=1000, seeds=[0, 1],
                                    synthetic_views=syn[None], eligible=eligible)
    assert len(seen) == 2
    for seed, split in zip([0, 1], seen):
        table3 = classifiers.split_task(known, 1000, 10, seed, eligible=eligible)
        np.testing.assert_array_equal(split["test"], table3["test"])
        np.testing.assert_array_equal(split["val"], table3["val"])
        train, full = split["train"], table3["train"]
        assert known[train].sum() == 3 and known[full].sum() == 8
        np.testing.assert_array_equal(train[~known[train]], full[~known[full]])  # same negatives
        assert np.isin(train[known[train]], full[known[full]]).all()
    assert set(per["method"]) == {"baseline", "augmented"} and (per["n_known_training"] == 3).all()
    assert per["ours"].notna().all()


def test_few_known_reports_what_it_could_not_run():
    x, truth, syn = blob_survey(n=1500)
    for known, k, note in ((None, 3, detg.NO_KNOWN_LIST), (truth, None, "set detg.few_known"),
                           (truth, 50, "detg.few_known = 50 but the split trains on 8")):
        per = detg.run_table3_few_known(x[None], known, k, TRAIN_ONE_EPOCH, head8, n_negatives=1000,
                                        seeds=[0], synthetic_views=syn[None])
        assert per["ours"].isna().all() and per["note"].str.contains(note, regex=False).all(), note
        assert set(per["method"]) == {"baseline", "augmented"} and len(per) == 6


def test_few_known_summary_puts_the_gain_beside_twice_its_standard_error():
    rows = [{"method": m, "quantity": q, "ours": v, "note": "", "seed": s}
            for m, f1s in (("baseline", [0.2, 0.4, 0.3]), ("augmented", [0.8, 0.7, 0.9]))
            for s, v in enumerate(f1s) for q in ("f1", "purity")]
    table = detg.few_known_summary(pd.DataFrame(rows))
    gain = table.set_index("method").loc["augmented - baseline"]
    assert np.isclose(gain["ours"], 0.5) and gain["n"] == 3 and np.isnan(gain["paper"])
    se = 0.1 / np.sqrt(3)  # both arms: std 0.1 over 3 splits
    assert gain["note"] == (f"2 x standard error of the difference: {2 * np.hypot(se, se):.3f}; "
                            "largest possible gain (1 - baseline F1): 0.700")
    one_split = detg.few_known_summary(pd.DataFrame([r for r in rows if r["seed"] == 0]))
    assert "augmented - baseline" not in set(one_split["method"])  # no spread from one split
