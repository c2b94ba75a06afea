"""SimCLR: NT-Xent against a hand-written loop, augmentations, input checks, train/resume, embed, bases
(the probe and its table: test_simclr_probe.py)."""
import dataclasses
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from raregal.core.config import torch_threads
from raregal.paper_b import simclr
from raregal.paper_b.simclr import SimCLRSettings

TINY = dict(image_size=16, width=0.0625, proj_dim=8, batch_size=8, val_fraction=0.25, seed=3)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def _naive_nt_xent(z1, z2, tau):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = len(z)
    n = n2 // 2
    losses = []
    for i in range(n2):
        pos = (i + n) % n2
        num = math.exp(float(z[i] @ z[pos]) / tau)
        den = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(n2) if j != i)
        losses.append(-math.log(num / den))
    return sum(losses) / n2


def test_nt_xent_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    loss, _ = simclr.nt_xent(z1, z2, 0.5)
    assert loss.item() == pytest.approx(_naive_nt_xent(z1, z2, 0.5), rel=1e-5)


def test_nt_xent_known_values():
    # identical views, mutually orthogonal images: positive sim 1, negatives 0.
    z = torch.eye(4)
    loss, top1 = simclr.nt_xent(z, z.clone(), 0.5)
    expected = -math.log(math.exp(2) / (math.exp(2) + 6))  # 2N-2 = 6 negatives at exp(0)
    assert loss.item() == pytest.approx(expected, rel=1e-6) and top1 == 1.0
    # swapped views: each view's positive is now orthogonal -> never ranked first
    _, top1_bad = simclr.nt_xent(z, torch.roll(z, 1, dims=0), 0.5)
    assert top1_bad < 1.0
    with pytest.raises(ValueError, match="at least 2"):
        simclr.nt_xent(z[:1], z[:1])


def test_augment_shapes_and_randomness():
    s = SimCLRSettings(**TINY)
    aug = simclr.make_augment(s)
    torch.manual_seed(0)
    x = torch.rand(6, 3, 24, 24)
    a, b = aug(x), aug(x)
    assert a.shape == (6, 3, 16, 16) and not torch.allclose(a, b)
    assert a.min() >= 0 and a.max() <= 1 + 1e-5


def test_prepare_images_resizes_with_warning_and_refuses_bad_input():
    ok = torch.rand(2, 3, 16, 16)
    assert torch.equal(simclr.prepare_images(ok, 16), ok)  # the right size and range: untouched
    with pytest.warns(UserWarning, match=r"resizing 2 image\(s\) from 20×20 to 16×16"):
        out = simclr.prepare_images(torch.rand(2, 3, 20, 20), 16)
    assert out.shape == (2, 3, 16, 16)
    u8 = np.full((1, 3, 16, 16), 255, dtype=np.uint8)
    assert simclr.prepare_images(u8, 16).max().item() == 1.0
    with pytest.raises(ValueError, match="channels-last"):
        simclr.prepare_images(np.zeros((2, 16, 16, 3), np.float32), 16)
    with pytest.raises(ValueError, match="3 colour channels"):
        simclr.prepare_images(torch.rand(2, 1, 16, 16), 16)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        simclr.prepare_images(torch.rand(2, 3, 16, 16) * 255, 16)
    with pytest.raises(ValueError, match="NaN"):
        simclr.prepare_images(torch.full((1, 3, 16, 16), float("nan")), 16)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        simclr.prepare_images(torch.rand(3, 16, 16), 16)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="temperature"):
        SimCLRSettings(temperature=0)
    with pytest.raises(ValueError, match="batch_size"):
        SimCLRSettings(batch_size=1)


def _images(n=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, size, size)).astype(np.float32)


def test_two_epoch_run_writes_files_and_resume_equals_straight_run(tmp_path):
    x = _images()
    straight = simclr.train_simclr(x, tmp_path / "a", SimCLRSettings(epochs=2, **TINY), log=lambda m: None)
    assert list(straight["epoch"]) == [1, 2]
    assert straight[["train_loss", "val_loss"]].notna().all().all()
    assert ((straight["train_top1"] >= 0) & (straight["train_top1"] <= 1)).all()
    assert (tmp_path / "a" / "simclr.pt").exists()
    hist = simclr.load_history(tmp_path / "a")
    pd.testing.assert_frame_equal(hist[["epoch", "train_loss"]], straight[["epoch", "train_loss"]])

    simclr.train_simclr(x, tmp_path / "b", SimCLRSettings(epochs=1, **TINY), log=lambda m: None)
    msgs = []
    resumed = simclr.train_simclr(x, tmp_path / "b", SimCLRSettings(epochs=2, **TINY), log=msgs.append)
    assert any("resuming" in m for m in msgs) and list(resumed["epoch"]) == [1, 2]
    np.testing.assert_allclose(resumed["train_loss"], straight["train_loss"], rtol=1e-5)
    ma, mb = simclr.load_simclr(tmp_path / "a"), simclr.load_simclr(tmp_path / "b")
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-5), k

    with pytest.raises(ValueError, match="different settings"):
        simclr.train_simclr(x, tmp_path / "a", SimCLRSettings(epochs=3, **{**TINY, "width": 0.125}))
    with pytest.raises(ValueError, match="trained on 24 images"):
        simclr.train_simclr(x[:20], tmp_path / "a", SimCLRSettings(epochs=3, **TINY))


def test_the_training_state_names_its_run_and_an_older_checkpoint_still_resumes(tmp_path):
    """``last_state/`` (accelerate) carries the settings and image count; a ``simclr.pt`` of the format
    before it (weights + optimizer in one file) is still resumed, to the weights of a straight run."""
    import json

    from raregal.core import training

    x = _images()
    quiet = dict(log=lambda m: None)
    simclr.train_simclr(x, tmp_path / "a", SimCLRSettings(epochs=2, **TINY), **quiet)
    simclr.train_simclr(x, tmp_path / "b", SimCLRSettings(epochs=1, **TINY), **quiet)
    state = tmp_path / "b" / "last_state"
    record = json.loads((state / training.HYPERPARAMETERS_FILE).read_text())
    assert record["n_images"] == 24 and record["num_processes"] == 1
    assert SimCLRSettings.from_dict(record["settings"]) == SimCLRSettings(epochs=1, **TINY)
    ckpt = torch.load(tmp_path / "b" / "simclr.pt", weights_only=False)
    assert "optimizer" not in ckpt and len(ckpt["history"]) == 1  # the model file holds no training state
    ckpt["optimizer"] = torch.load(state / "optimizer.bin", weights_only=False)
    torch.save(ckpt, tmp_path / "b" / "simclr.pt")  # what the loop wrote before last_state/ existed
    shutil.rmtree(state)
    msgs = []
    resumed = simclr.train_simclr(x, tmp_path / "b", SimCLRSettings(epochs=2, **TINY), log=msgs.append)
    assert any("resuming" in m and "simclr.pt after epoch 1" in m for m in msgs), msgs
    assert list(resumed.epoch) == [1, 2] and training.is_complete_state(state)
    ma, mb = simclr.load_simclr(tmp_path / "a"), simclr.load_simclr(tmp_path / "b")
    for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(va, vb), k
    with pytest.raises(ValueError, match="different settings"):
        simclr.train_simclr(x, tmp_path / "b", SimCLRSettings(epochs=3, **{**TINY, "proj_dim": 4}))
    (state / training.HYPERPARAMETERS_FILE).write_text(json.dumps({"kind": "physics"}))
    with pytest.raises(ValueError, match="not a SimCLR training state"):
        simclr.train_simclr(x, tmp_path / "b", SimCLRSettings(epochs=3, **TINY))


def test_training_lowers_the_loss_on_structured_images(tmp_path):
    # two kinds of image (bright centre vs bright ring) in random noise: the loss must fall.
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:16, :16]
    r = np.hypot(yy - 7.5, xx - 7.5)
    blobs = np.where(rng.random(64)[:, None, None] < 0.5, np.exp(-r**2 / 8), np.exp(-(r - 5) ** 2 / 2))
    x = np.clip(blobs[:, None] * np.array([1, 0.7, 0.4])[None, :, None, None]
                + 0.05 * rng.random((64, 3, 16, 16)), 0, 1).astype(np.float32)
    s = SimCLRSettings(**{**TINY, "epochs": 6, "batch_size": 16, "width": 0.125, "val_fraction": 0})
    h = simclr.train_simclr(x, tmp_path, s, log=lambda m: None)
    assert h["train_loss"].iloc[-3:].mean() < h["train_loss"].iloc[:2].mean()
    assert h["val_loss"].isna().all()  # val_fraction 0: no validation, said as NaN


def test_embed_checks_and_shapes(tmp_path):
    x = _images(12)
    simclr.train_simclr(x, tmp_path, SimCLRSettings(epochs=0, **TINY), log=lambda m: None)
    model = simclr.load_simclr(tmp_path)
    e = simclr.embed(model, x, batch_size=5)
    assert e.shape == (12, model.feature_dim) and e.dtype == np.float32
    np.testing.assert_allclose(simclr.embed(model, x[:3]), e[:3], atol=1e-5)  # batch-independent
    z = simclr.embed(model, x, projection=True)
    assert z.shape == (12, 8)
    with torch.no_grad():
        np.testing.assert_allclose(z, model.head(torch.as_tensor(e)).numpy(), atol=1e-5)
    with pytest.warns(UserWarning, match="resizing"):
        assert simclr.embed(model, _images(2, size=32)).shape == (2, model.feature_dim)
    with pytest.raises(ValueError, match="3 colour channels"):
        simclr.embed(model, np.zeros((2, 4, 16, 16), np.float32))
    assert simclr.embed(model, np.zeros((0, 3, 16, 16), np.float32)).shape == (0, model.feature_dim)
    with pytest.raises(FileNotFoundError, match="09_simclr"):
        simclr.load_simclr(tmp_path / "nowhere")


def test_embed_stored_counts_drops_and_embeddings_round_trip(tmp_path):
    from raregal.core.image_store import ImageStore
    from raregal.core.images import write_images

    rng = np.random.default_rng(0)
    write_images(tmp_path / "img", [1, 2, 3], rng.integers(0, 255, (3, 20, 20, 3), dtype=np.uint8))
    store = ImageStore(tmp_path / "img", [1, 2, 3, 99], tmp_path / "store", image_size=20, progress=False)
    simclr.train_simclr(_images(12), tmp_path / "m", SimCLRSettings(epochs=0, **TINY), log=lambda m: None)
    model = simclr.load_simclr(tmp_path / "m")
    ids, feats, drops = simclr.embed_stored(model, store, [1, 2, 99, 3], batch_size=2)
    assert list(ids) == [1, 2, 3] and feats.shape == (3, model.feature_dim)
    assert drops.to_dict("records") == [{"id": 99, "reason": "missing file"}]
    _, small, _ = simclr.embed_stored(model, store, [1, 2, 3], size=8)  # seen at 8 px
    assert small.shape == feats.shape and not np.allclose(small, feats)
    simclr.save_embeddings(tmp_path / "e.npz", ids, feats)
    ids2, feats2 = simclr.load_embeddings(tmp_path / "e.npz")
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_allclose(feats2, feats)
    with pytest.raises(FileNotFoundError, match="09_simclr"):
        simclr.load_embeddings(tmp_path / "none.npz")


def test_untrained_encoder_weights_depend_on_its_seed_only():
    """The probes' random-init floor is the same whether or not something drew from torch before."""
    settings = simclr.SimCLRSettings(image_size=16, width=0.125, seed=3)
    first = simclr.untrained_encoder(settings).state_dict()
    torch.rand(1000)  # what training would consume
    again = simclr.untrained_encoder(settings).state_dict()
    other = simclr.untrained_encoder(dataclasses.replace(settings, seed=4)).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first if first[k].is_floating_point())
    assert not simclr.untrained_encoder(settings).training


def test_a_run_from_a_saved_base_loads_its_trunk_and_names_it(tmp_path):
    """``pretrained`` = a folder written by ``backbone.save_trunk``: the encoder starts from those
    weights, the projection head is drawn fresh, and the training state names the base
    by folder and weights hash; a resume after the base was retrained is refused."""
    import json

    from raregal.core import training
    from raregal.paper_b.backbone import save_trunk, trunk_fingerprint

    x = _images()
    base = SimCLRSettings(epochs=1, **TINY)
    simclr.train_simclr(x, tmp_path / "base", base, log=lambda m: None)
    trunk = save_trunk(simclr.load_simclr(tmp_path / "base"), tmp_path / "trunk")
    settings = SimCLRSettings(epochs=0, **{**TINY, "pretrained": str(trunk)})
    msgs = []
    simclr.train_simclr(x, tmp_path / "run", settings, log=msgs.append)
    assert any("starts from the pretrained trunk" in m and str(trunk) in m for m in msgs), msgs
    started = simclr.load_simclr(tmp_path / "run")
    trained_base = simclr.load_simclr(tmp_path / "base")
    for (k, va), vb in zip(started.encoder.state_dict().items(), trained_base.encoder.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not torch.equal(started.head[0].weight, trained_base.head[0].weight)  # only the trunk is carried

    simclr.train_simclr(x, tmp_path / "run", dataclasses.replace(settings, epochs=1), log=lambda m: None)
    record = json.loads((tmp_path / "run" / "last_state" / training.HYPERPARAMETERS_FILE).read_text())
    assert record["base"] == {"folder": str(trunk), "sha256": trunk_fingerprint(trunk)}
    save_trunk(simclr.untrained_encoder(SimCLRSettings(**{**TINY, "seed": 9})), trunk)  # base retrained
    with pytest.raises(ValueError, match="base was retrained"):
        simclr.train_simclr(x, tmp_path / "run", dataclasses.replace(settings, epochs=2), log=lambda m: None)


def _round_disk(n=8, size=32):
    yy, xx = np.mgrid[:size, :size]
    disk = (np.hypot(yy - (size - 1) / 2, xx - (size - 1) / 2) < size / 4).astype(np.float32)
    return torch.as_tensor(np.repeat(disk[None, None], 3, axis=1).repeat(n, axis=0))


def _elongation(images):
    """Per image, the ratio of the larger to the smaller second moment of the first band."""
    out = []
    for im in images[:, 0].numpy():
        yy, xx = np.nonzero(im > 0.5)
        out.append(np.sqrt(np.max(np.linalg.eigvalsh(np.cov(xx, yy))) / np.min(np.linalg.eigvalsh(np.cov(xx, yy)))))
    return np.array(out)


def test_square_crops_keep_a_round_galaxy_round_and_noise_stays_in_range():
    """crop_ratio (1, 1) never squeezes a galaxy (axis ratio is morphology: round vs cigar-shaped);
    the wide default ratio does; noise views are clamped to [0, 1] and differ from noise-free ones."""
    torch.manual_seed(0)
    disk = _round_disk(32)
    square = simclr.galaxy_augment(32, (0.6, 1.0), crop_ratio=(1.0, 1.0))(disk)
    squeezed = simclr.galaxy_augment(32, (0.6, 1.0), crop_ratio=(0.5, 2.0))(disk)
    assert _elongation(square).max() < 1.1
    assert _elongation(squeezed).max() > 1.3
    noisy = simclr.galaxy_augment(32, (1.0, 1.0), rotation_deg=0, noise_std=0.2, noise_p=1.0)(disk)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - disk).abs().mean() > 0.05
    blurred = simclr.galaxy_augment(32, (1.0, 1.0), rotation_deg=0, blur_sigma=(2.0, 2.0), blur_p=1.0)(disk)
    edge = lambda x: (x[..., 1:] - x[..., :-1]).abs().amax()  # noqa: E731 - the sharpest step
    assert edge(blurred) < 0.5 * edge(disk)


def _base_tables():
    from raregal.paper_b.labels import TAG_NAMES

    ids = np.arange(100, 112, dtype=np.int64)
    tags = pd.DataFrame({"dr7objid": ids, "known_detg": False, **{f"tag_{t}": False for t in TAG_NAMES}})
    tags.loc[0, ["tag_smooth", "tag_dust_lane"]] = True   # early type + dust lane: kept out
    tags.loc[1, ["tag_spiral", "tag_dust_lane"]] = True   # a dusty spiral: allowed
    tags.loc[2, "known_detg"] = True                      # a known D-ETG
    catalog = pd.DataFrame({"dr7objid": ids, "true_detg": np.arange(12) == 3})  # untagged true D-ETG
    return ids, tags, catalog


def test_the_base_never_sees_a_detg_and_says_why_each_galaxy_was_kept_out():
    ids, tags, catalog = _base_tables()
    out = simclr.pretraining_exclusions(tags, catalog)
    assert dict(zip(out.dr7objid, out.reason)) == {
        100: "known D-ETG or early type with a dust-lane tag", 102: "known D-ETG or early type with a "
        "dust-lane tag", 103: "D-ETG (mock truth)"}
    assert list(simclr.pretraining_exclusions(tags).dr7objid) == [100, 102]  # a real catalog has no truth
    train, excluded = simclr.pretraining_sample(tags, catalog, None, np.random.default_rng(0), held_out=[104, 105])
    assert list(train) == [101, *range(106, 112)] and len(excluded) == 3
    few, _ = simclr.pretraining_sample(tags, catalog, 4, np.random.default_rng(0))
    assert len(few) == 4 and not np.isin(few, [100, 102, 103]).any()
    with pytest.raises(ValueError, match="asked for 9 pretraining galaxies but only 7 remain after 3 "
                                         "exclusions and 2 held out"):
        simclr.pretraining_sample(tags, catalog, 9, np.random.default_rng(0), held_out=[104, 105])


def test_pretrain_base_leaves_a_trunk_a_later_run_starts_from(tmp_path):
    import json

    settings = SimCLRSettings(epochs=1, **TINY)
    trunk = simclr.pretrain_base(_images(), tmp_path / "base", settings, about={"excluded": 3},
                                 log=lambda m: None)
    assert trunk == tmp_path / "base" / simclr.TRUNK_DIR
    about = json.loads((trunk / "about.json").read_text())
    assert about["excluded"] == 3 and about["epochs_done"] == 1 and about["settings"]["width"] == TINY["width"]
    later = simclr.SimCLRModel(dataclasses.replace(settings, pretrained=str(trunk)))
    base = simclr.load_simclr(tmp_path / "base")
    for (k, va), vb in zip(later.encoder.state_dict().items(), base.encoder.state_dict().values()):
        assert torch.equal(va, vb), k


def test_a_record_from_before_square_crops_reads_as_the_views_it_was_trained_with():
    record = dataclasses.asdict(SimCLRSettings(**TINY))
    del record["crop_ratio"], record["noise_std"]
    old = SimCLRSettings.from_dict(record)
    assert old.crop_ratio == (0.75, 4 / 3) and old.noise_std == 0.0
    assert SimCLRSettings.from_dict(dataclasses.asdict(SimCLRSettings(**TINY))) == SimCLRSettings(**TINY)
