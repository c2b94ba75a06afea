"""CVAE model, eq. 2 / vanilla losses, property targets and the training loop (tiny, CPU, seeded)."""
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from raregal.core import training
from raregal.paper_a.cvae import (
    Arch,
    CatalogError,
    CheckpointMismatchError,
    ConvVAE,
    TrainConfig,
    TrainData,
    TrainingDiverged,
    load_model,
    physics_loss,
    property_targets,
    read_history,
    vanilla_loss,
)
from raregal.paper_a.cvae import loss as loss_mod
from raregal.paper_a.cvae.train import evaluate, train

TINY = Arch(latent_dim=5, channels=(4, 8), image_size=17)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids sync overhead on a shared 2-core machine; restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_model_shapes_match_authors_topology():
    m = ConvVAE()  # paper default: 69 px, 3 bands, d = 5, 16/32 channels
    assert (m.mid, m.low) == (35, 18)
    assert m.enc3[1].in_features == 32 * 18 * 18 and m.enc3[1].out_features == 10
    x = torch.rand(2, 3, 69, 69)
    x_hat, mu, logvar = m.eval()(x)
    assert x_hat.shape == x.shape and mu.shape == logvar.shape == (2, 5)
    assert float(x_hat.detach().min()) >= 0 and float(x_hat.detach().max()) <= 1
    assert torch.equal(m.reparameterize(mu, logvar), mu)  # eval: the latent is μ


def test_arch_validation():
    with pytest.raises(ValueError, match="latent_dim"):
        Arch(latent_dim=0)
    with pytest.raises(ValueError, match="channels"):
        Arch(channels=(4,))


def _catalog(n=6, **over):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"orientation": rng.uniform(-1.5, 1.5, n), "orientation_err": 0.3,
                       "z": rng.uniform(0.01, 1, n), "z_err": 0.0, "logmstar": rng.uniform(8, 12, n),
                       "logmstar_err": 0.1, "logsfr": rng.uniform(-2, 2, n), "logsfr_err": 0.3})
    for k, v in over.items():
        df[k] = v
    return df


def test_property_targets_floors_and_errors():
    t = property_targets(_catalog())
    assert t.values.shape == t.sigmas.shape == (6, 4) and t.values.dtype == np.float32
    assert np.allclose(t.sigmas[:, 0], 0.1)  # paper: 0.1 rad for every orientation
    assert np.allclose(t.sigmas[:, 1], loss_mod.DEFAULT_ERROR_FLOORS["z"])  # zero z errors floored
    assert t.floored["z"] == 6 and t.floored["logmstar"] == 0 and "z: 6" in t.report()
    assert np.allclose(property_targets(_catalog(), orientation_sigma=None).sigmas[:, 0], 0.3)
    assert np.allclose(property_targets(_catalog(), floors={"z": 0.02}).sigmas[:, 1], 0.02)
    with pytest.raises(CatalogError, match="logsfr_err"):
        property_targets(_catalog().drop(columns="logsfr_err"))
    with pytest.raises(CatalogError, match="logmstar_err has 1 NaN"):
        property_targets(_catalog(logmstar_err=[0.1, np.nan, 0.1, 0.1, 0.1, 0.1]))
    with pytest.raises(CatalogError, match="NaN/inf property values"):
        property_targets(_catalog(z=[0.1, np.nan, 0.1, 0.1, 0.1, 0.1]))
    with pytest.raises(CatalogError, match="negative"):
        property_targets(_catalog(logsfr_err=-0.1))


def test_physics_loss_matches_eq2_by_hand():
    torch.manual_seed(0)
    x, x_hat = torch.rand(3, 3, 5, 5), torch.rand(3, 3, 5, 5)
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5) * 0.1
    p, s = torch.randn(3, 4), torch.rand(3, 4) + 0.5
    out = physics_loss(x, x_hat, mu, logvar, p, s, beta0=10, beta1=50)
    recon = ((x - x_hat) ** 2).sum(dim=(1, 2, 3))
    kl = 0.5 * (logvar[:, 4].exp() + mu[:, 4] ** 2 - logvar[:, 4] - 1)
    prop = (((mu[:, :4] - p) / s) ** 2).sum(1)
    assert torch.allclose(out["loss"], (10 * recon + kl + 50 * prop).mean())
    van = vanilla_loss(x, x_hat, mu, logvar, beta0=10)
    kl_all = 0.5 * (logvar.exp() + mu ** 2 - logvar - 1).sum(1)
    assert torch.allclose(van["loss"], (10 * recon + kl_all).mean()) and float(van["prop"]) == 0


def test_periodic_orientation_option():
    x = torch.zeros(1, 3, 2, 2)
    mu, logvar = torch.zeros(1, 5), torch.zeros(1, 5)
    mu[0, 0] = math.pi / 2 - 0.01  # same axis as -π/2 + 0.01: 0.02 rad apart, not π - 0.02
    p, s = torch.tensor([[-math.pi / 2 + 0.01, 0, 0, 0]]), torch.ones(1, 4)
    plain = physics_loss(x, x, mu, logvar, p, s, beta1=1)["prop"]
    wrapped = physics_loss(x, x, mu, logvar, p, s, beta1=1, periodic_orientation=True)["prop"]
    assert float(plain) == pytest.approx((math.pi - 0.02) ** 2, rel=1e-5)
    assert float(wrapped) == pytest.approx(0.02 ** 2, rel=1e-3)


def _data(n_train=96, n_val=32, seed=0):
    """Blobs whose brightness is z and whose width is log M*: a CVAE should learn both."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_val
    z = torch.rand(n, generator=g)
    m = 8 + 4 * torch.rand(n, generator=g)
    yy, xx = torch.meshgrid(torch.arange(17.0) - 8, torch.arange(17.0) - 8, indexing="ij")
    width = 1 + (m - 8)[:, None, None] * 0.8
    img = (0.2 + 0.8 * z)[:, None, None] * torch.exp(-(xx ** 2 + yy ** 2) / (2 * width ** 2))
    x = img[:, None].repeat(1, 3, 1, 1) + 0.01 * torch.randn(n, 3, 17, 17, generator=g)
    p = torch.stack([torch.zeros(n), z, m, torch.zeros(n)], 1)
    s = torch.tensor([0.1, 0.05, 0.1, 0.3]).repeat(n, 1)
    return TrainData(x[:n_train], p[:n_train], s[:n_train], x[n_train:], p[n_train:], s[n_train:])


def test_train_two_epochs_files_and_resume(tmp_path):
    data = _data()
    cfg = TrainConfig(kind="physics", epochs=2, batch_size=32, lr=1e-3, arch=TINY)
    res = train(data, tmp_path, cfg, log=lambda s: None)
    assert res.epochs_run == 2 and len(res.history) == 2
    for f in ("best.pt", "history.csv"):
        assert (tmp_path / f).exists()
    assert training.is_complete_state(tmp_path / "last_state")  # accelerate state + hyperparameters.json
    record = json.loads((tmp_path / "last_state" / training.HYPERPARAMETERS_FILE).read_text())
    assert record["hparams"] == cfg.hparams() and record["num_processes"] == 1
    assert record["fingerprint"] == data.fingerprint()
    hist = read_history(tmp_path)
    assert list(hist.epoch) == [0, 1] and np.isfinite(hist.val_loss).all()
    assert res.best_val_loss == pytest.approx(hist.val_loss.min())
    model, payload = load_model(res.best_path, arch=TINY)
    assert payload["epoch"] == res.best_epoch and payload["hparams"]["lr"] == 1e-3
    assert payload["hparams"]["kind"] == "physics"
    # best.pt reproduces the recorded validation loss
    from raregal.paper_a.cvae.loss import LOSSES
    val = evaluate(model, data.x_val, data.p_val, data.s_val, LOSSES["physics"], cfg)
    assert val["loss"] == pytest.approx(res.best_val_loss, rel=1e-4)
    # resume: a finished run returns at once; more epochs continue from last_state/
    again = train(data, tmp_path, cfg, log=lambda s: None)
    assert again.epochs_run == 0 and len(again.history) == 2
    more = train(data, tmp_path, TrainConfig(kind="physics", epochs=3, batch_size=32, lr=1e-3, arch=TINY),
                 log=lambda s: None)
    assert more.epochs_run == 1 and list(more.history.epoch) == [0, 1, 2]
    said = []
    changed = train(data, tmp_path, TrainConfig(kind="physics", epochs=2, batch_size=32, lr=5e-6, arch=TINY),
                    log=said.append)
    assert changed.epochs_run == 2 and "hyper-parameters changed" in said[0] and "'lr': '0.001 -> 5e-06'" in said[0]
    assert load_model(tmp_path / "best.pt")[1]["hparams"]["lr"] == 5e-6
    fresh = train(data, tmp_path, TrainConfig(kind="physics", epochs=1, batch_size=32, lr=5e-6, arch=TINY),
                  resume=False, log=lambda s: None)
    assert fresh.epochs_run == 1


def test_onecycle_schedule_resumes_exactly_and_is_tied_to_epochs(tmp_path):
    data = _data()
    cfg = TrainConfig(kind="physics", epochs=3, batch_size=32, lr=2e-3, schedule="onecycle", arch=TINY)
    whole = train(data, tmp_path / "whole", cfg, log=lambda s: None)
    lrs = list(whole.history.lr)
    assert lrs[0] > 2e-3 / 25 and max(lrs) <= 2e-3 and lrs[-1] < 1e-6  # warm-up, peak, annealed to ~0
    # interrupted after 2 epochs (same schedule over 3), then resumed: identical to the run in one go
    half = TrainConfig(kind="physics", epochs=3, batch_size=32, lr=2e-3, schedule="onecycle", arch=TINY)
    import raregal.paper_a.cvae.train as cvae_train
    calls = {"n": 0}
    real_eval = cvae_train.evaluate

    def stop_after_two(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    cvae_train.evaluate = stop_after_two
    try:
        with pytest.raises(KeyboardInterrupt):
            train(data, tmp_path / "split", half, log=lambda s: None)
    finally:
        cvae_train.evaluate = real_eval
    resumed = train(data, tmp_path / "split", half, log=lambda s: None)
    assert resumed.epochs_run == 1
    np.testing.assert_allclose(resumed.history.val_loss, whole.history.val_loss, rtol=1e-4)
    np.testing.assert_allclose(resumed.history.lr, lrs, rtol=1e-6)
    from safetensors.torch import load_file  # the weights after the last epoch: bit for bit the same
    final = [load_file(tmp_path / run / "last_state" / "model.safetensors") for run in ("whole", "split")]
    assert final[0].keys() == final[1].keys() and all(torch.equal(final[0][k], final[1][k]) for k in final[0])
    # a schedule spans exactly `epochs`: asking for more is another run, not a continuation
    said = []
    longer = train(data, tmp_path / "whole", TrainConfig(kind="physics", epochs=4, batch_size=32, lr=2e-3,
                                                         schedule="onecycle", arch=TINY), log=said.append)
    assert longer.epochs_run == 4 and "'epochs': '3 -> 4'" in said[0]
    with pytest.raises(ValueError, match="schedule must be one of"):
        TrainConfig(schedule="step")


def test_state_of_the_older_format_is_removed_and_training_starts_over(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"optimizer and RNG pickled by the loop before accelerate states")
    said = []
    res = train(_data(), tmp_path, TrainConfig(kind="vanilla", epochs=1, batch_size=64, arch=TINY), log=said.append)
    assert res.epochs_run == 1 and "older format" in said[0] and not (tmp_path / "last.pt").exists()


def test_checkpoint_from_other_architecture_is_refused(tmp_path):
    train(_data(), tmp_path, TrainConfig(kind="vanilla", epochs=1, batch_size=64, arch=TINY), log=lambda s: None)
    with pytest.raises(CheckpointMismatchError, match="latent_dim: checkpoint 5 vs model 4"):
        load_model(tmp_path / "best.pt", arch=Arch(latent_dim=4, channels=(4, 8), image_size=17))
    said = []
    other = train(_data(), tmp_path, TrainConfig(kind="vanilla", epochs=1, batch_size=64,
                                                 arch=Arch(channels=(8, 8), image_size=17)), log=said.append)
    assert other.epochs_run == 1 and "channels" in said[0] and "from scratch" in said[0]
    torch.save(ConvVAE(TINY).state_dict(), tmp_path / "bare.pt")
    with pytest.raises(CheckpointMismatchError, match="not a raregal CVAE checkpoint"):
        load_model(tmp_path / "bare.pt")
    (tmp_path / "last_state" / training.HYPERPARAMETERS_FILE).write_text('{"settings": {"steps": 4}}')
    with pytest.raises(CheckpointMismatchError, match="not a raregal CVAE training state"):  # e.g. a fine-tune's
        train(_data(), tmp_path, TrainConfig(kind="vanilla", epochs=1, batch_size=64, arch=TINY), log=lambda s: None)


def test_nan_loss_stops_naming_epoch_and_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = loss_mod.LOSSES["physics"]

    def flaky(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        if calls["n"] > 4:  # 3 train batches + 1 val batch in epoch 0, NaN in epoch 1
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setitem(loss_mod.LOSSES, "physics", flaky)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 0.*last_state \(end of epoch 0\)"):
        train(_data(), tmp_path, TrainConfig(epochs=3, batch_size=32, arch=TINY), log=lambda s: None)
    assert (tmp_path / "best.pt").exists()


def test_bad_training_data_is_refused():
    d = _data()
    with pytest.raises(ValueError, match="non-finite pixels"):
        TrainData(d.x_train * float("nan"), d.p_train, d.s_train, d.x_val, d.p_val, d.s_val)
    with pytest.raises(ValueError, match="errors > 0"):
        TrainData(d.x_train, d.p_train, d.s_train * 0, d.x_val, d.p_val, d.s_val)


def test_physics_latents_learn_the_properties(tmp_path):
    data = _data(n_train=256, n_val=64)
    res = train(data, tmp_path, TrainConfig(epochs=25, batch_size=32, lr=3e-3, augment=True, arch=TINY),
                log=lambda s: None)
    model, _ = load_model(res.best_path)
    with torch.inference_mode():
        mu, _ = model.encode(data.x_val)
    r_z = np.corrcoef(mu[:, 1], data.p_val[:, 1])[0, 1]
    r_m = np.corrcoef(mu[:, 2], data.p_val[:, 2])[0, 1]
    assert r_z > 0.9 and r_m > 0.8, (r_z, r_m)


def test_property_bias_starts_at_target_means():
    from raregal.paper_a.cvae.train import init_property_bias

    m = ConvVAE(TINY).eval()
    p = torch.tensor([[0.1, 0.3, 10.0, 0.5], [0.3, 0.5, 11.0, -0.5]])
    init_property_bias(m, p)
    with torch.inference_mode():
        mu, _ = m.encode(torch.zeros(1, 3, 17, 17))
    assert torch.allclose(m.enc3[1].bias[:4], torch.tensor([0.2, 0.4, 10.5, 0.0]))
    assert abs(float(mu[0, 2]) - 10.5) < 2.0  # the log M* latent starts near the sample mean


def _moment_angle(img: torch.Tensor) -> float:
    """Major-axis angle from second moments: x = column, y = row, counter-clockwise from +x."""
    h, w = img.shape
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    wgt = img.double() / img.sum()
    mx, my = (wgt * x).sum(), (wgt * y).sum()
    cxx, cyy, cxy = (wgt * (x - mx) ** 2).sum(), (wgt * (y - my) ** 2).sum(), (wgt * (x - mx) * (y - my)).sum()
    return float(0.5 * torch.atan2(2 * cxy, cxx - cyy))


def test_dihedral_moves_orientation_with_the_image():
    from raregal.paper_a.cvae.data import dihedral
    from raregal.paper_a.cvae.loss import wrap_orientation

    phi0 = 0.5
    y, x = torch.meshgrid(torch.arange(21.0) - 10, torch.arange(21.0) - 10, indexing="ij")
    u = x * math.cos(phi0) + y * math.sin(phi0)
    v = -x * math.sin(phi0) + y * math.cos(phi0)
    img = torch.exp(-(u ** 2 / 18 + v ** 2 / 2))
    assert _moment_angle(img) == pytest.approx(phi0, abs=1e-3)
    p = torch.tensor([[phi0, 0.3, 10.0, 1.0]])
    seen = set()
    for op in range(8):
        xo, po = dihedral(img[None, None], p, op)
        d = float(wrap_orientation(torch.tensor(po[0, 0] - _moment_angle(xo[0, 0]))))
        assert abs(d) < 1e-3, (op, float(po[0, 0]), _moment_angle(xo[0, 0]))
        assert torch.equal(po[0, 1:], p[0, 1:])
        seen.add(round(float(po[0, 0]), 4))
    assert len(seen) == 4  # ±φ and ±(π/2 − φ)
