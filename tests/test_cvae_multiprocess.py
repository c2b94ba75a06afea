"""Two processes (``accelerate launch --multi_gpu --num_processes 2`` on the CPU, gloo) train the CVAE along
the loss and learning-rate curve of one process with the same global batch, through an interruption.

Why a test: the loop used to give every rank its own interleaved slice of the permutation batched at
``batch_size`` per rank (so the global batch grew with the process count), draw the reparameterisation
noise per rank from the same seed (both halves of a batch got the same ε), compute BatchNorm statistics
per rank, evaluate the whole validation set on every rank, and keep the best epoch on rank 0 only (the
other ranks ended with "no epoch trained"). Now every rank draws the same global batch, dihedral view
and noise and trains on its share, BatchNorm uses the global batch (core.training.sync_batchnorm), the
schedule is stepped once per optimizer step, and a resumed rank gets the main process's RNG state.

Run as a script (``accelerate launch tests/test_cvae_multiprocess.py OUT``) this file is the launched
training, interrupted in its last epoch and resumed; under pytest it is the test that launches it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from two_processes import end_processes, launch_two

from raregal.core import training
from raregal.core.config import torch_threads
from raregal.paper_a.cvae import Arch, TrainConfig, TrainData, load_model
from raregal.paper_a.cvae import train as cvae_train
from raregal.paper_a.cvae.loss import LOSSES

# biases of the convolutions that BatchNorm follows (it removes them in training) and the running means
# that follow those biases
SHADOWED = ("enc1.0.bias", "enc2.0.bias", "dec2.0.bias", "enc1.1.running_mean", "enc2.1.running_mean",
            "dec2.1.running_mean")
# 37 training galaxies in global batches of 16: 16, 16 and 5, which splits 3 / 2 (loss weights 1.2, 0.8);
# 11 validation galaxies split 6 / 5; 3 epochs = 9 optimizer steps of a one-cycle schedule
CFG = TrainConfig(kind="physics", epochs=3, batch_size=16, lr=2e-3, schedule="onecycle", augment=True, seed=5,
                  arch=Arch(latent_dim=5, channels=(4, 8), image_size=17))


def tiny_data(n_train: int = 37, n_val: int = 11) -> TrainData:
    """Blobs whose brightness is z and whose width is log M* (as in test_cvae), seeded."""
    g = torch.Generator().manual_seed(1)
    n = n_train + n_val
    z, m = torch.rand(n, generator=g), 8 + 4 * torch.rand(n, generator=g)
    yy, xx = torch.meshgrid(torch.arange(17.0) - 8, torch.arange(17.0) - 8, indexing="ij")
    width = 1 + (m - 8)[:, None, None] * 0.8
    img = (0.2 + 0.8 * z)[:, None, None] * torch.exp(-(xx ** 2 + yy ** 2) / (2 * width ** 2))
    x = img[:, None].repeat(1, 3, 1, 1) + 0.01 * torch.randn(n, 3, 17, 17, generator=g)
    p = torch.stack([torch.rand(n, generator=g) - 0.5, z, m, torch.zeros(n)], 1)
    s = torch.tensor([0.1, 0.05, 0.1, 0.3]).repeat(n, 1)
    return TrainData(x[:n_train], p[:n_train], s[:n_train], x[n_train:], p[n_train:], s[n_train:])


def train_interrupted(out: Path) -> None:
    """Train CFG, stop (every rank) before the last epoch's validation, then resume to the end."""
    real_evaluate, calls = cvae_train.evaluate, {"n": 0}

    def stop_in_last_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == CFG.epochs:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    cvae_train.evaluate = stop_in_last_epoch
    try:
        cvae_train.train(tiny_data(), out, CFG)
    except KeyboardInterrupt:
        pass
    finally:
        cvae_train.evaluate = real_evaluate
    cvae_train.train(tiny_data(), out, CFG)


def one_cycle_lrs() -> list[float]:
    """The learning rate of each of the 9 optimizer steps of CFG (2 processes or 1: the same steps)."""
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=CFG.lr)
    schedule = cvae_train.make_scheduler(opt, CFG, cvae_train.steps_per_epoch(37, CFG.batch_size, 2))
    lrs = []
    for _ in range(schedule.total_steps):
        lrs.append(schedule.get_last_lr()[0])
        opt.step()
        schedule.step()
    return lrs


def state_weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "last_state" / "model.safetensors")



def test_two_processes_follow_the_one_process_run(tmp_path):
    one = tmp_path / "one"
    with torch_threads(1):
        cvae_train.train(tiny_data(), one, CFG, log=lambda s: None)
    two = tmp_path / "two"
    done = launch_two(__file__, two, timeout=180)
    # only the main process logs; the resume starts at the interrupted epoch with the main's RNG state
    assert done.stdout.count("resuming physics CVAE") == 1 and "at epoch 2" in done.stdout, done.stdout

    h1, h2 = pd.read_csv(one / "history.csv"), pd.read_csv(two / "history.csv")
    assert list(h2.epoch) == list(h1.epoch) == [0, 1, 2]
    np.testing.assert_allclose(h2.lr, h1.lr, rtol=1e-12, atol=0)  # the schedule is arithmetic of the step
    # the same galaxies, views and noise in every step: only float summation differs (two shares, BatchNorm
    # sums in float64 over a gloo all-reduce, DDP's gradient average). Measured 2.3e-7 relative on the
    # training loss and <= 1e-6 on every weight but the SHADOWED ones; per-rank BatchNorm statistics (DDP's
    # default) move the first step's loss by 0.5 %, the training losses by 0.9 % and the weights by 0.1
    np.testing.assert_allclose(h2.train_loss, h1.train_loss, rtol=1e-5)
    w1, w2 = state_weights(one), state_weights(two)
    assert w1.keys() == w2.keys()
    for k in sorted(set(w1) - set(SHADOWED)):
        torch.testing.assert_close(w2[k], w1[k], rtol=0, atol=1e-5, msg=k)
    # a bias that BatchNorm removes has a zero gradient in exact arithmetic; Adam scales its rounding noise
    # to steps of about ±lr, which the running means follow. So those differ by up to 2·Σ lr (measured
    # 0.011 of 0.022 here) — as much as one process on 2 threads differs from one on 1 thread — and through
    # the running means the validation loss moves by 1e-3 (measured; 6.5e-4 between thread counts)
    lrs = one_cycle_lrs()
    for k in SHADOWED:
        torch.testing.assert_close(w2[k], w1[k], rtol=0, atol=2 * sum(lrs), msg=k)
    val_terms = ["val_loss", "val_recon", "val_prop"]
    np.testing.assert_allclose(h2[val_terms], h1[val_terms], rtol=5e-3)
    # the validation loss of two processes (each rank its share, sizes 6 and 5) is that of the whole set
    model, best = load_model(two / "best.pt")  # best.pt holds plain BatchNorm names: load_model reads it
    data = tiny_data()
    whole = cvae_train.evaluate(model, data.x_val, data.p_val, data.s_val, LOSSES[CFG.kind], CFG)
    assert whole["loss"] == pytest.approx(best["val_loss"], rel=1e-6)
    assert h2.val_loss[best["epoch"]] == pytest.approx(best["val_loss"], rel=1e-12)

    # the lr of the last step is the schedule's last value (9 steps, whatever the process count)
    assert len(lrs) == 9 and h2.lr.iloc[-1] == lrs[-1] == min(lrs)
    record = json.loads((two / "last_state" / training.HYPERPARAMETERS_FILE).read_text())
    assert record["num_processes"] == 2 and record["hparams"] == CFG.hparams()
    assert not (two / "last_state" / "random_states_1.pkl").exists()  # the main process alone wrote it
    said = []  # a 2-process state is another run for one process: said, and trained from scratch
    again = cvae_train.train(tiny_data(), two, CFG, log=said.append)
    assert again.epochs_run == 3 and "'num_processes': '2 -> 1'" in said[0]


if __name__ == "__main__":  # the launched training (one per rank)
    train_interrupted(Path(sys.argv[1]))
    end_processes()
