"""Binary classifiers: splits, thresholds, metrics, losses, the three arms, frozen-feature views."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from raregal import classifiers as C


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
    pytest.importorskip("raregal.backbone", reason="the shared backbone (issue 8) has not landed")
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
