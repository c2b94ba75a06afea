"""``last_block`` classifiers: a copy of the SimCLR trunk whose last ResNet stage and head train."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_trunk import TinyNet
from torch import nn

from raregal.paper_b import classifiers


def _trunk(seed=0):
    """A narrow trained-looking ResNet-18 trunk: random weights and non-trivial BatchNorm statistics."""
    from raregal.paper_b.backbone import build_resnet18

    torch.manual_seed(seed)
    enc = build_resnet18(width=0.0625)
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _band_images(n=24, size=32, seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.random((n, 3, size, size)).astype(np.float32) * 0.3
    y = np.arange(n) % 3 == 0
    imgs[y, :, size // 2 - 3:size // 2 + 3, :] += 0.6
    return imgs, y


def test_last_block_only_the_last_stage_and_head_get_gradients():
    enc = _trunk()
    model = classifiers.Featurizer("last_block", 32, encoder=enc).make_model()
    model.train()
    x, y = _band_images()
    loss = classifiers.loss_value(model(torch.as_tensor(x)), torch.as_tensor(y, dtype=torch.float32),
                                  classifiers.TrainSettings())
    loss.backward()
    got = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert got == trainable
    in_trunk = got - {"head.weight", "head.bias"}
    assert {"head.weight", "head.bias"} <= got and in_trunk
    assert all(n.startswith("backbone.features.resnet.encoder.stages.3.") for n in in_trunk)
    # the stem and stages 0-2 are in eval mode while the model trains; the last stage trains
    trunk = model.backbone
    assert not any(part.training for part in trunk.frozen_parts()) and trunk.last_stage.training


def test_last_block_training_changes_only_the_last_stage_and_head_and_keeps_frozen_statistics():
    enc = _trunk()
    enc_before = _state(enc)
    feat = classifiers.Featurizer("last_block", 32, encoder=enc)
    model = feat.make_model()
    before = _state(model)
    x, y = _band_images()
    settings = classifiers.TrainSettings(lr=1e-2, epochs=2, batch_size=8)
    hist = classifiers.train_binary(model, x[None], y, settings, augment=feat.augment)
    assert np.isfinite(hist["loss"]).all()
    after = _state(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    last = "backbone.features.resnet.encoder.stages.3."
    frozen = [k for k in before if k.startswith("backbone.") and not k.startswith(last)]
    assert frozen and not changed & set(frozen)  # weights, BN running mean/var and batch counts kept
    assert any(k.startswith(last) and k.endswith("weight") for k in changed)  # the last stage learned
    assert any(k.startswith(last) and k.endswith("running_mean") for k in changed)  # its BN in train mode
    assert {"head.weight", "head.bias"} <= changed
    # the featurizer's trunk is untouched: each arm trained its own copy
    assert all(torch.equal(enc_before[k], v) for k, v in enc.state_dict().items())
    assert feat.make_model().backbone.features is not model.backbone.features
    # inputs go to the trunk at the scale it was trained on ([0, 1] images, not standardised)
    xt = torch.as_tensor(x[:4])
    with torch.no_grad():
        np.testing.assert_allclose(model(xt).numpy(), model.head(model.backbone(xt)).squeeze(1).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_last_block_featurizer_views_are_images_and_settings_are_checked(tmp_path):
    from raregal.core.image_store import ImageStore
    from raregal.core.images import write_images

    enc = _trunk()
    ids = np.arange(5, dtype=np.int64) + 700
    write_images(tmp_path / "img", ids, np.random.default_rng(0).integers(0, 255, (5, 40, 40, 3), np.uint8))
    store = ImageStore(tmp_path / "img", ids, tmp_path / "store", image_size=40, progress=False)
    feat = classifiers.Featurizer("last_block", 32, encoder=enc)
    views, kept, drops = feat.catalog(store, ids)
    assert views.shape == (1, 5, 3, 32, 32) and list(kept) == list(ids) and len(drops) == 0
    assert 0 <= views.min() and views.max() <= 1 and feat.augment is not None
    with pytest.raises(ValueError, match="last_block mode needs a trained encoder"):
        classifiers.Featurizer("last_block", 32)
    with pytest.raises(ValueError, match="n_views=1"):
        classifiers.Featurizer("last_block", 32, n_views=2, encoder=enc)
    with pytest.raises(ValueError, match="needs a ResNet trunk"):
        classifiers.Featurizer("last_block", 16, encoder=TinyNet())
    with pytest.raises(ValueError, match="one of"):
        classifiers.Featurizer("last_stage", 32, encoder=enc)


def _config_with_simclr(tmp_path, mode, **classifier_values):
    """A stand-in run config whose SimCLR folder holds a tiny trained-format checkpoint."""
    from types import SimpleNamespace

    from raregal.paper_b.simclr.model import SimCLRModel, SimCLRSettings, save_checkpoint

    settings = SimCLRSettings(image_size=32, width=0.0625, batch_size=4, epochs=0)
    torch.manual_seed(0)
    (tmp_path / "simclr").mkdir()
    save_checkpoint(tmp_path / "simclr" / "simclr.pt", SimCLRModel(settings), settings, [], 10)
    values = {"mode": mode, "width": None, "image_size": None, "n_views": 2, **classifier_values}
    return SimpleNamespace(classifiers=SimpleNamespace(**values), seed=3,
                           data_dir=lambda stage, *parts: tmp_path / Path(*parts))


def test_featurizer_from_config_last_block_uses_the_simclr_trunk(tmp_path):
    feat = classifiers.featurizer_from_config(_config_with_simclr(tmp_path, "last_block"))
    assert (feat.mode, feat.image_size, feat.n_views, feat.seed) == ("last_block", 32, 1, 3)
    assert not any(p.requires_grad for p in feat.encoder.parameters())
    model = feat.make_model()
    assert model.head.in_features == feat.encoder.feature_dim
    assert any(p.requires_grad for p in model.backbone.last_stage.parameters())


def test_featurizer_from_config_mode_replaces_the_profile_mode(tmp_path):
    cfg = _config_with_simclr(tmp_path, "frozen")
    feat = classifiers.featurizer_from_config(cfg, mode="last_block")  # notebook 12's detg.classifier_mode
    assert (feat.mode, feat.n_views) == ("last_block", 1)
    assert any(p.requires_grad for p in feat.make_model().backbone.last_stage.parameters())
    assert classifiers.featurizer_from_config(cfg).mode == "frozen"  # the profile itself is unchanged


def test_featurizer_from_config_frozen_keeps_its_views_and_a_head_on_the_same_trunk(tmp_path):
    feat = classifiers.featurizer_from_config(_config_with_simclr(tmp_path, "frozen"))
    assert (feat.mode, feat.image_size, feat.n_views, feat.width) == ("frozen", 32, 2, 0.0625)
    assert isinstance(feat.make_model().backbone, nn.Identity) and feat.augment is None


@pytest.mark.parametrize("values, message", [({"image_size": 48}, "trained at 32 px"),
                                             ({"width": 0.25}, "set classifiers.width to None")])
def test_featurizer_from_config_last_block_refuses_a_size_or_width_the_trunk_lacks(tmp_path, values, message):
    with pytest.raises(ValueError, match=message):
        classifiers.featurizer_from_config(_config_with_simclr(tmp_path, "last_block", **values))
