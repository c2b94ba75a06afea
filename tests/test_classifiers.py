"""Binary classifiers: splits, thresholds, metrics, losses, the three arms, Table 2, views, caches."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_trunk import TinyNet
from torch import nn

from raregal.paper_b import classifiers, values


def blobs(n=1200, d=8, frac=0.05, shift=2.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < frac
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[y, :2] += shift
    return x, y


def _rounding_bounds_of_f1(purity, completeness, step=0.005):
    """F1 range allowed by purity and completeness published to two decimals."""
    p = np.array([purity - step, purity + step])
    c = np.array([completeness - step, completeness + step])
    f1 = 2 * p[:, None] * c[None, :] / (p[:, None] + c[None, :])
    return f1.min() - step, f1.max() + step


def test_published_table2_f1_agrees_with_its_purity_and_completeness():
    # a typo in the transcription of Ma et al. (2025) Table 2 breaks F1 = 2PC / (P + C)
    wide = values.PAPER_TABLE2.pivot_table(index=["task", "method"], columns="quantity",
                                                values="paper")
    assert len(wide) == 12 and wide.notna().all().all()
    for key, row in wide.iterrows():
        lo, hi = _rounding_bounds_of_f1(row["purity"], row["completeness"])
        assert lo <= row["f1"] <= hi, key
    shares = values.PAPER_TABLE2.groupby("task")["positive_fraction"].nunique()
    assert (shares == 1).all()  # one GZ2 share per task, used by run_table2 as the default


def test_n_positives_keeps_fraction():
    assert classifiers.n_positives_for(10000, 0.43) == 7544
    assert classifiers.n_positives_for(10000, 0.07) == 753
    with pytest.raises(ValueError, match="positive_fraction"):
        classifiers.n_positives_for(100, 1.0)


def test_split_task_sizes_stratified_disjoint():
    _, y = blobs(2000, frac=0.2)
    s = classifiers.split_task(y, n_negatives=500, n_positives=100, seed=1)
    allidx = np.concatenate([s["train"], s["val"], s["test"]])
    assert len(allidx) == len(set(allidx)) == 600
    assert y[allidx].sum() == 100
    assert y[s["test"]].sum() == 10 and len(s["test"]) == 60
    assert y[s["val"]].sum() == 9 and len(s["val"]) == 54
    # reproducible per seed, different across seeds
    assert np.array_equal(classifiers.split_task(y, 500, 100, seed=1)["test"], s["test"])
    assert not np.array_equal(classifiers.split_task(y, 500, 100, seed=2)["test"], s["test"])


def test_split_task_refuses_what_cannot_be_drawn():
    _, y = blobs(300, frac=0.05)
    with pytest.raises(ValueError, match="not enough galaxies"):
        classifiers.split_task(y, n_negatives=200, n_positives=100, seed=0)
    with pytest.raises(ValueError, match="at least one each — raise classifiers.n_negatives"):
        classifiers.split_task(y, n_negatives=200, n_positives=3, seed=0, setting="classifiers.n_negatives")
    eligible = np.zeros(len(y), bool)
    with pytest.raises(ValueError, match="have 0 and 0"):
        classifiers.split_task(y, 10, 2, seed=0, eligible=eligible)


def test_choose_threshold_and_metrics():
    y = np.array([0, 0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.4, 0.7])
    thr = classifiers.choose_threshold(y, p)
    assert 0.4 < thr <= 0.7
    m = classifiers.positive_metrics(y, p >= thr)
    assert m == {"purity": 1.0, "completeness": 1.0, "f1": 1.0}
    m = classifiers.positive_metrics([1, 1, 0, 0], [1, 0, 1, 0])
    assert m == pytest.approx({"purity": 0.5, "completeness": 0.5, "f1": 0.5})
    assert classifiers.positive_metrics([1, 0], [0, 0])["purity"] == 0.0  # no prediction: 0, not an error
    with pytest.raises(ValueError, match="no positives"):
        classifiers.choose_threshold([0, 0], [0.1, 0.2])


def test_focal_loss_matches_lin_et_al_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(20), (torch.rand(20) > 0.5).float()
    s = classifiers.TrainSettings(loss="focal", focal_alpha=0.25, focal_gamma=2.0)
    p = torch.sigmoid(logits)
    pt = torch.where(y > 0, p, 1 - p)
    at = torch.where(y > 0, torch.tensor(0.25), torch.tensor(0.75))
    expect = (-at * (1 - pt) ** 2 * torch.log(pt)).mean()
    assert float(classifiers.loss_value(logits, y, s)) == pytest.approx(float(expect), rel=1e-4)
    bce = classifiers.loss_value(logits, y, classifiers.TrainSettings(loss="bce"))
    assert float(bce) == pytest.approx(float(nn.functional.binary_cross_entropy_with_logits(logits, y)))
    with pytest.raises(ValueError, match="loss"):
        classifiers.TrainSettings(loss="hinge")


def test_head_learns_separable_features():
    x, y = blobs(800, frac=0.3, shift=3.0)
    s = classifiers.split_task(y, n_negatives=400, n_positives=150, seed=0)
    arm = classifiers.fit_arm(x[None], y, s, classifiers.TrainSettings(lr=1e-2, epochs=8, batch_size=128),
                              lambda: classifiers.head_classifier(x.shape[1]))
    m = classifiers.positive_metrics(y[s["test"]], arm.predict(x[s["test"]]))
    assert m["f1"] > 0.85
    assert arm.history["loss"][-1] < arm.history["loss"][0]


def test_train_binary_refuses_one_class_and_bad_views():
    x, _ = blobs(50)
    head, settings = classifiers.head_classifier(8), classifiers.TrainSettings()
    with pytest.raises(ValueError, match="both classes"):
        classifiers.train_binary(head, x[None], np.zeros(50), settings)
    with pytest.raises(ValueError, match="view axis"):
        classifiers.train_binary(head, x[0], np.zeros(8), settings)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classifiers.train_binary(head, bad[None], np.arange(50) % 2, settings)


def test_run_arms_reports_missing_synthetic_as_not_run():
    x, y = blobs(900, frac=0.1, shift=2.5)
    s = classifiers.split_task(y, n_negatives=500, n_positives=50, seed=0)
    st = classifiers.TrainSettings(lr=1e-2, epochs=3, batch_size=128)
    df = classifiers.run_arms(x[None], y, s, st, lambda: classifiers.head_classifier(8))
    aug = df[df.method == "augmented"]
    assert len(aug) == 3 and aug["ours"].isna().all() and aug["note"].str.contains("not run").all()
    assert df[df.method != "augmented"]["ours"].notna().all()
    assert set(df["quantity"]) == set(classifiers.QUANTITIES)


def test_augmented_arm_uses_synthetic_positives_and_helps_rare_class():
    x, y = blobs(3000, frac=0.03, shift=2.0, seed=3)
    s = classifiers.split_task(y, n_negatives=2000, n_positives=40, seed=3)
    rng = np.random.default_rng(9)
    syn = rng.normal(size=(400, 8)).astype(np.float32)
    syn[:, :2] += 2.0
    st = classifiers.TrainSettings(lr=1e-2, epochs=4, batch_size=256)
    df = classifiers.run_arms(x[None], y, s, st, lambda: classifiers.head_classifier(8),
                              synthetic_views=syn[None], methods=("baseline", "augmented"))
    f1 = df[df.quantity == "f1"].set_index("method")
    assert f1.loc["augmented", "n_synthetic"] == 400 and f1.loc["baseline", "n_synthetic"] == 0
    # the separating direction is learned from 400 more positives: completeness does not drop
    comp = df[df.quantity == "completeness"].set_index("method")["ours"]
    assert comp["augmented"] >= comp["baseline"]
    with pytest.raises(ValueError, match="do not match"):
        classifiers.run_arms(x[None], y, s, st, lambda: classifiers.head_classifier(8),
                             synthetic_views=syn[None, :, :4])


def test_finetune_mode_trains_whole_network_with_kornia_augmentation():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    imgs = rng.random((60, 3, 16, 16)).astype(np.float32) * 0.2
    y = np.arange(60) % 3 == 0
    imgs[y, :, 6:10, :] += 0.7  # a bright horizontal band on positives
    model = classifiers.resnet_classifier(1.0, build=TinyNet)
    before = model.backbone.conv.weight.detach().clone()
    settings = classifiers.TrainSettings(lr=1e-2, epochs=2, batch_size=16)
    hist = classifiers.train_binary(model, imgs[None], y, settings, augment=classifiers.make_augment(16))
    assert len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()
    assert not torch.equal(before, model.backbone.conv.weight)  # backbone trained, not frozen
    p = classifiers.predict_proba(model, imgs)
    assert p.shape == (60,) and ((p >= 0) & (p <= 1)).all()


def test_a_last_batch_of_one_joins_the_one_before_only_where_batchnorm_needs_it():
    """17 samples in batches of 8 leave one: BatchNorm cannot train on it (the ResNet-18 used to stop with
    "Expected more than 1 value per channel"), so it joins the batch before; a head has no BatchNorm
    and keeps three steps per epoch."""
    rng = np.random.default_rng(0)
    imgs, y = rng.random((1, 17, 3, 16, 16)).astype(np.float32), np.arange(17) % 2 == 0
    settings = classifiers.TrainSettings(lr=1e-3, epochs=2, batch_size=8)
    model = classifiers.resnet_classifier(0.0625)
    hist = classifiers.train_binary(model, imgs, y, settings)
    assert np.isfinite(hist["loss"]).all()
    counts = {int(m.num_batches_tracked) for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert counts == {2 * 2}  # 2 steps (8 and 9 images) in each of 2 epochs
    head = classifiers.head_classifier(4)
    steps = []
    head.head.register_forward_hook(lambda module, args, out: steps.append(len(out)))
    classifiers.train_binary(head, rng.normal(size=(1, 17, 4)), y, settings)
    assert steps == [8, 8, 1] * 2


def test_resnet_classifier_uses_the_shared_backbone():
    model = classifiers.resnet_classifier(0.0625)
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2,)
    assert model.head.in_features == model.backbone.feature_dim


def test_embed_views_first_view_is_unaugmented():
    rng = np.random.default_rng(0)
    imgs = rng.random((10, 3, 16, 16)).astype(np.float32)
    net = TinyNet().eval()
    v = classifiers.embed_views(imgs, lambda b: net(b).detach().numpy(), n_views=3,
                                augment=classifiers.make_augment(16), batch_size=4)
    assert v.shape == (3, 10, 4)
    np.testing.assert_allclose(v[0], net(torch.as_tensor(imgs)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(v[1], v[0])
    with pytest.raises(ValueError, match="augmentation"):
        classifiers.embed_views(imgs, lambda b: b, n_views=2)


def test_summarise_seeds_mean_std_and_notes():
    per = pd.DataFrame({"task": ["a"] * 3 + ["b"] * 2, "method": ["m"] * 5,
                        "ours": [0.1, 0.2, 0.3, np.nan, np.nan],
                        "note": ["", "", "", "not run", "not run"]})
    out = classifiers.summarise_seeds(per, ["task", "method"]).set_index("task")
    assert out.loc["a", "ours"] == pytest.approx(0.2) and out.loc["a", "std"] == pytest.approx(0.1)
    assert out.loc["a", "n"] == 3 and out.loc["b", "n"] == 0 and out.loc["b", "note"] == "not run"


def tags_frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({"dr7objid": np.arange(n, dtype=np.int64) + 10**17,
                      "well_sampled": rng.random(n) < 0.8})
    for name, p in [("spiral", 0.43), ("edge_on", 0.09), ("bar", 0.1), ("bulge_obvious", 0.05),
                    ("bulge_dominant", 0.02)]:
        t[f"tag_{name}"] = (rng.random(n) < p) & t.well_sampled
    return t


def test_task_labels_and_prompts():
    t = tags_frame()
    lab = classifiers.task_labels(t)
    assert list(lab.columns) == ["dr7objid", "spiral", "disk", "bar", "bulge", "eligible"]
    assert (lab.bulge == (t.tag_bulge_obvious | t.tag_bulge_dominant)).all()
    with pytest.raises(ValueError, match="tag_bar"):
        classifiers.task_labels(t.drop(columns="tag_bar"))
    assert classifiers.task_prompt("spiral") == "sdss, spiral galaxy"
    assert classifiers.task_prompt("bulge").startswith("sdss, obvious central bulge")


def _separable_features(labels, tasks, seed=1):
    """One feature column per task, shifted for its positives."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(labels), 6)).astype(np.float32)
    for k, task in enumerate(tasks):
        x[labels[task].to_numpy(), k] += 3.0
    return x


def test_run_table2_all_tasks_and_unrunnable_task_reported():
    lab = classifiers.task_labels(tags_frame())
    x = _separable_features(lab, ["spiral", "disk", "bar", "bulge"])
    settings = classifiers.TrainSettings(lr=3e-2, epochs=5, batch_size=512)
    per = classifiers.run_table2(x[None], lab, settings, lambda: classifiers.head_classifier(6),
                                 n_negatives=400, seeds=[0, 1], tasks=["disk", "spiral"],
                                 synthetic_notes={"disk": "not run: no pipeline here"})
    assert set(per.task) == {"disk", "spiral"} and set(per.seed) == {0, 1}
    ran = per[per.method != "augmented"]
    assert ran.ours.notna().all() and ran.ours.between(0, 1).all()
    f1 = ran[ran.quantity == "f1"].groupby("task").ours.mean()
    assert f1["spiral"] > 0.7 and f1["disk"] > 0.2  # disk: 40 positives, 4 in each test split
    disk_aug = per[(per.task == "disk") & (per.method == "augmented")]
    assert (disk_aug.note == "not run: no pipeline here").all()
    # too many negatives asked: the task is reported as not run, not dropped
    per2 = classifiers.run_table2(x[None], lab, classifiers.TrainSettings(epochs=1),
                                  lambda: classifiers.head_classifier(6), n_negatives=10**5, seeds=[0],
                                  tasks=["bar"])
    assert len(per2) == 9 and per2.ours.isna().all() and per2.note.str.contains("not enough").all()
    per3 = classifiers.run_table2(x[None], lab, classifiers.TrainSettings(epochs=1),
                                  lambda: classifiers.head_classifier(6), n_negatives=10**5, seeds=[0],
                                  tasks=["bar"], setting="classifiers.n_negatives")
    n_pos = classifiers.n_positives_for(10**5, classifiers.TABLE2_FRACTIONS["bar"])
    assert per3.note.str.contains(f"need {n_pos} positives and 100000 negatives, have .* — lower "
                                  f"classifiers.n_negatives in the profile").all()  # names what to change


def test_table2_summary_carries_the_published_value_of_each_row():
    lab = classifiers.task_labels(tags_frame())
    lab["ring"] = lab["bar"]  # a task Ma et al. (2025) Table 2 does not report
    x = _separable_features(lab, ["spiral", "disk", "bar"])
    per = classifiers.run_table2(x[None], lab, classifiers.TrainSettings(lr=3e-2, epochs=2, batch_size=512),
                                 lambda: classifiers.head_classifier(6), n_negatives=300, seeds=[0, 1],
                                 tasks=["disk", "ring"],
                                 fractions={**classifiers.TABLE2_FRACTIONS, "ring": 0.1})
    table = classifiers.table2_summary(per)
    assert list(table.columns[:5]) == ["task", "method", "quantity", "ours", "paper"]
    assert len(table) == 2 * 3 * 3
    published = values.PAPER_TABLE2.set_index(["task", "method", "quantity"])["paper"]
    disk = table[table.task == "disk"].set_index(["task", "method", "quantity"])
    pd.testing.assert_series_equal(disk["paper"], published.loc[disk.index], check_names=False)
    # the augmented arm did not run (no synthetic images), yet the paper's value stands beside the NaN
    aug = disk.xs("augmented", level="method")
    assert aug["ours"].isna().all() and aug["paper"].notna().all() and (aug["n"] == 0).all()
    assert table.loc[table.task == "ring", "paper"].isna().all()


def test_featurizer_frozen_catalog_cache_and_drops(tmp_path):

    from raregal.core.image_store import ImageStore
    from raregal.core.images import write_images

    rng = np.random.default_rng(0)
    ids = np.arange(12, dtype=np.int64) + 500
    write_images(tmp_path / "img", ids[:10], rng.integers(0, 255, (10, 20, 20, 3), dtype=np.uint8))

    def store():
        return ImageStore(tmp_path / "img", ids, tmp_path / "store", image_size=20, progress=False)

    enc = TinyNet().eval()
    f = classifiers.Featurizer("frozen", 16, n_views=2, encoder=enc)
    views, kept, drops = f.catalog(store(), ids, cache=tmp_path / "v.npz")
    assert views.shape == (2, 10, 4) and list(kept) == list(ids[:10])
    assert sorted(drops["id"].astype(int)) == [510, 511] and (drops.reason == "missing file").all()
    again = f.catalog(store(), ids, cache=tmp_path / "v.npz")
    np.testing.assert_array_equal(again[0], views)
    write_images(tmp_path / "img", ids[:1], np.full((1, 20, 20, 3), 255, np.uint8))  # an image changes:
    t = (tmp_path / "v.npz").stat().st_mtime_ns + 10**9
    os.utime(tmp_path / "img" / f"{ids[0]}.jpg", ns=(t, t))
    changed = f.catalog(store(), ids, cache=tmp_path / "v.npz")[0]  # the cached views are not reused
    assert not np.allclose(changed[0, 0], views[0, 0]) and np.allclose(changed[0, 1:], views[0, 1:], atol=1e-5)
    assert f.make_model().head.in_features == 4 and f.augment is None
    ft = classifiers.Featurizer("finetune", 16, width=1.0)
    v2, _, _ = ft.catalog(store(), ids[:3])
    assert v2.shape == (1, 3, 3, 16, 16) and 0 <= v2.min() and v2.max() <= 1 and ft.augment is not None
    with pytest.raises(ValueError, match="encoder"):
        classifiers.Featurizer("frozen", 16)
    with pytest.raises(ValueError, match="mode"):
        classifiers.Featurizer("linear", 16, encoder=enc)


def test_synthetic_images_without_pipeline_is_not_run(tmp_path):
    imgs, note = classifiers.synthetic_images(tmp_path / "no_model", "sdss, spiral galaxy", 3,
                                              tmp_path / "out", steps=2, strength=0.8)
    assert imgs is None and note.startswith("not run")


def test_reference_images_come_from_outside_the_splits(tmp_path):
    from raregal.core.gz2_schema import column, stem_of
    from raregal.core.image_store import ImageStore
    from raregal.core.images import write_images

    ids = np.arange(6, dtype=np.int64) + 100
    tags = pd.DataFrame({"dr7objid": ids, "well_sampled": [True, True, False, False, False, False]})
    frac = column(stem_of("t03", "a06"), "fraction")
    cat = pd.DataFrame({"dr7objid": ids, frac: [0.9, 0.9, 0.9, 0.2, 0.75, 0.8]})
    write_images(tmp_path / "img", ids, np.zeros((6, 8, 8, 3), np.uint8))
    store = ImageStore(tmp_path / "img", ids, tmp_path / "store", image_size=8, progress=False)
    imgs, got = classifiers.reference_images(tags, cat, store, "bar", n=10)
    assert sorted(got) == [102, 104, 105] and imgs.shape == (3, 8, 8, 3)
    assert classifiers.reference_images(tags, cat, store, "bar", min_fraction=0.95) == (None, [])


def test_train_settings_from_profile_take_the_classifiers_section():
    from raregal.core import config

    for profile in ("smoke", "default", "paper"):
        c = config.setup(profile, "mock", 0, make_dirs=False).classifiers
        s = classifiers.TrainSettings.from_profile(c, seed=7)
        assert (s.loss, s.lr, s.epochs, s.batch_size, s.seed) == ("bce", c.lr, c.epochs, c.batch_size, 7)
