"""Binary classifiers: splits, thresholds, metrics, losses, the three arms, frozen-feature views."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from raregal.paper_b import classifiers as C


def blobs(n=1200, d=8, frac=0.05, shift=2.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < frac
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[y, :2] += shift
    return x, y


class TinyNet(nn.Module):
    """Stand-in for the ResNet-18 trunk: images -> pooled features, with ``feature_dim``."""

    feature_dim = 4

    def __init__(self, width=1.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu().mean(dim=(2, 3))


def test_paper_table2_is_complete_and_matches_text():
    t = C.PAPER_TABLE2
    assert len(t) == 4 * 3 * 3
    assert C.TABLE2_FRACTIONS == {"spiral": 0.43, "disk": 0.09, "bar": 0.10, "bulge": 0.07}
    row = t[(t.task == "spiral") & (t.method == "augmented")].set_index("quantity")["paper"]
    assert row.to_dict() == {"purity": 0.69, "completeness": 0.70, "f1": 0.70}


def test_n_positives_keeps_fraction():
    assert C.n_positives_for(10000, 0.43) == 7544
    assert C.n_positives_for(10000, 0.07) == 753
    with pytest.raises(ValueError, match="positive_fraction"):
        C.n_positives_for(100, 1.0)


def test_split_task_sizes_stratified_disjoint():
    _, y = blobs(2000, frac=0.2)
    s = C.split_task(y, n_negatives=500, n_positives=100, seed=1)
    allidx = np.concatenate([s["train"], s["val"], s["test"]])
    assert len(allidx) == len(set(allidx)) == 600
    assert y[allidx].sum() == 100
    assert y[s["test"]].sum() == 10 and len(s["test"]) == 60
    assert y[s["val"]].sum() == 9 and len(s["val"]) == 54
    # reproducible per seed, different across seeds
    assert np.array_equal(C.split_task(y, 500, 100, seed=1)["test"], s["test"])
    assert not np.array_equal(C.split_task(y, 500, 100, seed=2)["test"], s["test"])


def test_split_task_refuses_what_cannot_be_drawn():
    _, y = blobs(300, frac=0.05)
    with pytest.raises(ValueError, match="not enough galaxies"):
        C.split_task(y, n_negatives=200, n_positives=100, seed=0)
    with pytest.raises(ValueError, match="at least one"):
        C.split_task(y, n_negatives=200, n_positives=3, seed=0)
    eligible = np.zeros(len(y), bool)
    with pytest.raises(ValueError, match="have 0 and 0"):
        C.split_task(y, 10, 2, seed=0, eligible=eligible)


def test_choose_threshold_and_metrics():
    y = np.array([0, 0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.4, 0.7])
    thr = C.choose_threshold(y, p)
    assert 0.4 < thr <= 0.7
    m = C.positive_metrics(y, p >= thr)
    assert m == {"purity": 1.0, "completeness": 1.0, "f1": 1.0}
    m = C.positive_metrics([1, 1, 0, 0], [1, 0, 1, 0])
    assert m == pytest.approx({"purity": 0.5, "completeness": 0.5, "f1": 0.5})
    assert C.positive_metrics([1, 0], [0, 0])["purity"] == 0.0  # no prediction: 0, not an error
    with pytest.raises(ValueError, match="no positives"):
        C.choose_threshold([0, 0], [0.1, 0.2])


def test_focal_loss_matches_lin_et_al_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(20), (torch.rand(20) > 0.5).float()
    s = C.TrainSettings(loss="focal", focal_alpha=0.25, focal_gamma=2.0)
    p = torch.sigmoid(logits)
    pt = torch.where(y > 0, p, 1 - p)
    at = torch.where(y > 0, torch.tensor(0.25), torch.tensor(0.75))
    expect = (-at * (1 - pt) ** 2 * torch.log(pt)).mean()
    assert float(C.loss_value(logits, y, s)) == pytest.approx(float(expect), rel=1e-4)
    bce = C.loss_value(logits, y, C.TrainSettings(loss="bce"))
    assert float(bce) == pytest.approx(float(nn.functional.binary_cross_entropy_with_logits(logits, y)))
    with pytest.raises(ValueError, match="loss"):
        C.TrainSettings(loss="hinge")


def test_head_learns_separable_features():
    x, y = blobs(800, frac=0.3, shift=3.0)
    s = C.split_task(y, n_negatives=400, n_positives=150, seed=0)
    arm = C.fit_arm(x[None], y, s, C.TrainSettings(lr=1e-2, epochs=8, batch_size=128),
                    lambda: C.head_classifier(x.shape[1]))
    m = C.positive_metrics(y[s["test"]], arm.predict(x[s["test"]]))
    assert m["f1"] > 0.85
    assert arm.history["loss"][-1] < arm.history["loss"][0]


def test_train_binary_refuses_one_class_and_bad_views():
    x, _ = blobs(50)
    with pytest.raises(ValueError, match="both classes"):
        C.train_binary(C.head_classifier(8), x[None], np.zeros(50), C.TrainSettings())
    with pytest.raises(ValueError, match="view axis"):
        C.train_binary(C.head_classifier(8), x[0], np.zeros(8), C.TrainSettings())
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        C.train_binary(C.head_classifier(8), bad[None], np.arange(50) % 2, C.TrainSettings())


def test_run_arms_reports_missing_synthetic_as_not_run():
    x, y = blobs(900, frac=0.1, shift=2.5)
    s = C.split_task(y, n_negatives=500, n_positives=50, seed=0)
    st = C.TrainSettings(lr=1e-2, epochs=3, batch_size=128)
    df = C.run_arms(x[None], y, s, st, lambda: C.head_classifier(8))
    aug = df[df.method == "augmented"]
    assert len(aug) == 3 and aug["ours"].isna().all() and aug["note"].str.contains("not run").all()
    assert df[df.method != "augmented"]["ours"].notna().all()
    assert set(df["quantity"]) == set(C.QUANTITIES)


def test_augmented_arm_uses_synthetic_positives_and_helps_rare_class():
    x, y = blobs(3000, frac=0.03, shift=2.0, seed=3)
    s = C.split_task(y, n_negatives=2000, n_positives=40, seed=3)
    rng = np.random.default_rng(9)
    syn = rng.normal(size=(400, 8)).astype(np.float32)
    syn[:, :2] += 2.0
    st = C.TrainSettings(lr=1e-2, epochs=4, batch_size=256)
    df = C.run_arms(x[None], y, s, st, lambda: C.head_classifier(8), synthetic_views=syn[None],
                    methods=("baseline", "augmented"))
    f1 = df[df.quantity == "f1"].set_index("method")
    assert f1.loc["augmented", "n_synthetic"] == 400 and f1.loc["baseline", "n_synthetic"] == 0
    # the separating direction is learned from 400 more positives: completeness does not drop
    comp = df[df.quantity == "completeness"].set_index("method")["ours"]
    assert comp["augmented"] >= comp["baseline"]
    with pytest.raises(ValueError, match="do not match"):
        C.run_arms(x[None], y, s, st, lambda: C.head_classifier(8), synthetic_views=syn[None, :, :4])


def test_finetune_mode_trains_whole_network_with_kornia_augmentation():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    imgs = rng.random((60, 3, 16, 16)).astype(np.float32) * 0.2
    y = np.arange(60) % 3 == 0
    imgs[y, :, 6:10, :] += 0.7  # a bright horizontal band on positives
    model = C.resnet_classifier(1.0, build=TinyNet)
    before = model.backbone.conv.weight.detach().clone()
    hist = C.train_binary(model, imgs[None], y, C.TrainSettings(lr=1e-2, epochs=2, batch_size=16),
                          augment=C.make_augment(16))
    assert len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()
    assert not torch.equal(before, model.backbone.conv.weight)  # backbone trained, not frozen
    p = C.predict_proba(model, imgs)
    assert p.shape == (60,) and ((p >= 0) & (p <= 1)).all()


def test_resnet_classifier_uses_the_shared_backbone():
    pytest.importorskip("raregal.paper_b.backbone", reason="the shared backbone (issue 8) has not landed")
    model = C.resnet_classifier(0.0625)
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2,)
    assert model.head.in_features == model.backbone.feature_dim


def test_embed_views_first_view_is_unaugmented():
    rng = np.random.default_rng(0)
    imgs = rng.random((10, 3, 16, 16)).astype(np.float32)
    net = TinyNet().eval()
    v = C.embed_views(imgs, lambda b: net(b).detach().numpy(), n_views=3, augment=C.make_augment(16),
                      batch_size=4)
    assert v.shape == (3, 10, 4)
    np.testing.assert_allclose(v[0], net(torch.as_tensor(imgs)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(v[1], v[0])
    with pytest.raises(ValueError, match="augmentation"):
        C.embed_views(imgs, lambda b: b, n_views=2)


def test_summarise_seeds_mean_std_and_notes():
    per = pd.DataFrame({"task": ["a"] * 3 + ["b"] * 2, "method": ["m"] * 5,
                        "ours": [0.1, 0.2, 0.3, np.nan, np.nan],
                        "note": ["", "", "", "not run", "not run"]})
    out = C.summarise_seeds(per, ["task", "method"]).set_index("task")
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
    lab = C.task_labels(t)
    assert list(lab.columns) == ["dr7objid", "spiral", "disk", "bar", "bulge", "eligible"]
    assert (lab.bulge == (t.tag_bulge_obvious | t.tag_bulge_dominant)).all()
    with pytest.raises(ValueError, match="tag_bar"):
        C.task_labels(t.drop(columns="tag_bar"))
    assert C.task_prompt("spiral") == "sdss, spiral galaxy"
    assert C.task_prompt("bulge").startswith("sdss, obvious central bulge")


def test_run_table2_all_tasks_and_unrunnable_task_reported():
    t = tags_frame()
    lab = C.task_labels(t)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(len(t), 6)).astype(np.float32)
    for k, task in enumerate(["spiral", "disk", "bar", "bulge"]):
        x[lab[task].to_numpy(), k] += 3.0
    per = C.run_table2(x[None], lab, C.TrainSettings(lr=3e-2, epochs=5, batch_size=512),
                       lambda: C.head_classifier(6), n_negatives=400, seeds=[0, 1],
                       tasks=["disk", "spiral"], synthetic_notes={"disk": "not run: no pipeline here"})
    assert set(per.task) == {"disk", "spiral"} and set(per.seed) == {0, 1}
    ran = per[per.method != "augmented"]
    assert ran.ours.notna().all() and ran.ours.between(0, 1).all()
    f1 = ran[ran.quantity == "f1"].groupby("task").ours.mean()
    assert f1["spiral"] > 0.7 and f1["disk"] > 0.2  # disk: 40 positives, 4 in each test split
    assert (per[(per.task == "disk") & (per.method == "augmented")].note == "not run: no pipeline here").all()
    # too many negatives asked: the task is reported as not run, not dropped
    per2 = C.run_table2(x[None], lab, C.TrainSettings(epochs=1), lambda: C.head_classifier(6),
                        n_negatives=10**5, seeds=[0], tasks=["bar"])
    assert len(per2) == 9 and per2.ours.isna().all() and per2.note.str.contains("not enough").all()
    summ = C.with_paper(C.summarise_seeds(per, ["task", "method", "quantity"]),
                        C.PAPER_TABLE2.drop(columns="positive_fraction"), ["task", "method", "quantity"])
    assert list(summ.columns[:5]) == ["task", "method", "quantity", "ours", "paper"]
    assert summ.set_index(["task", "method", "quantity"]).loc[("disk", "focal", "completeness"), "paper"] == 0.76


def test_featurizer_frozen_catalog_cache_and_drops(tmp_path):
    from raregal.core.images import write_images

    rng = np.random.default_rng(0)
    ids = np.arange(12, dtype=np.int64) + 500
    write_images(tmp_path / "img", ids[:10], rng.integers(0, 255, (10, 20, 20, 3), dtype=np.uint8))
    enc = TinyNet().eval()
    f = C.Featurizer("frozen", 16, n_views=2, encoder=enc)
    views, kept, drops = f.catalog(tmp_path / "img", ids, cache=tmp_path / "v.npz")
    assert views.shape == (2, 10, 4) and list(kept) == list(ids[:10])
    assert sorted(drops["id"].astype(int)) == [510, 511] and (drops.reason == "missing file").all()
    again = f.catalog(tmp_path / "img", ids, cache=tmp_path / "v.npz")
    np.testing.assert_array_equal(again[0], views)
    assert f.make_model().head.in_features == 4 and f.augment is None
    ft = C.Featurizer("finetune", 16, width=1.0)
    v2, _, _ = ft.catalog(tmp_path / "img", ids[:3])
    assert v2.shape == (1, 3, 3, 16, 16) and 0 <= v2.min() and v2.max() <= 1 and ft.augment is not None
    with pytest.raises(ValueError, match="encoder"):
        C.Featurizer("frozen", 16)
    with pytest.raises(ValueError, match="mode"):
        C.Featurizer("linear", 16, encoder=enc)


def test_synthetic_images_without_pipeline_is_not_run(tmp_path):
    imgs, note = C.synthetic_images(tmp_path / "no_model", "sdss, spiral galaxy", 3, tmp_path / "out",
                                    steps=2, strength=0.8)
    assert imgs is None and note.startswith("not run")


def test_reference_images_come_from_outside_the_splits(tmp_path):
    from raregal.core.images import write_images
    from raregal.paper_b.labels import column, stem_of

    ids = np.arange(6, dtype=np.int64) + 100
    tags = pd.DataFrame({"dr7objid": ids, "well_sampled": [True, True, False, False, False, False]})
    frac = column(stem_of("t03", "a06"), "fraction")
    cat = pd.DataFrame({"dr7objid": ids, frac: [0.9, 0.9, 0.9, 0.2, 0.75, 0.8]})
    write_images(tmp_path, ids, np.zeros((6, 8, 8, 3), np.uint8))
    imgs, got = C.reference_images(tags, cat, tmp_path, "bar", n=10)
    assert sorted(got) == [102, 104, 105] and imgs.shape == (3, 8, 8, 3)
    assert C.reference_images(tags, cat, tmp_path, "bar", min_fraction=0.95) == (None, [])
