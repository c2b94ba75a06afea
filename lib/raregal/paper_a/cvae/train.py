"""Train a physics-informed or vanilla CVAE: accelerate loop, best-validation checkpoint, resume.

The data (:class:`raregal.paper_a.cvae.data.TrainData`) are tensors batched here by index. Adam at a
constant learning rate, as in the paper (``schedule="constant"``), or — where few epochs must converge —
a one-cycle or cosine schedule per step peaking at ``lr``. The files in ``out_dir`` (``best.pt``,
``last_state/``, ``history.csv``) are described in :mod:`raregal.paper_a.cvae.checkpoints`.

A rerun with ``resume=True`` continues from ``last_state/`` (or returns at once when all epochs are
done); with another architecture, other hyper-parameters (``epochs`` aside — unless a schedule ties the
learning rate to the number of epochs), another number of processes or another data set it says so and
starts over. A non-finite loss stops training with :class:`TrainingDiverged` naming the epoch and the
last good checkpoint.

Several processes (``accelerate launch``): ``batch_size`` is the global batch. Every rank draws the
same permutation (seeded by seed and epoch), the same dihedral view and the same reparameterisation
noise for each global batch and trains on its share (:func:`raregal.core.training.share_of_global_batch`);
BatchNorm statistics are those of the global batch (:func:`raregal.core.training.sync_batchnorm`); the
schedule is stepped by hand once per optimizer step on every rank; the validation loss is the mean
over the ranks' shares of the validation set, weighted by their sizes. So N processes follow the run of one process with the same
global batch (``tests/test_cvae_multiprocess.py``). Only the main process writes files.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from accelerate import Accelerator

from raregal.core import training
from raregal.paper_a import values
from raregal.paper_a.cvae import checkpoints
from raregal.paper_a.cvae.checkpoints import HISTORY_COLUMNS, Progress, read_history
from raregal.paper_a.cvae.data import TrainData, dihedral
from raregal.paper_a.cvae.loss import LOSSES
from raregal.paper_a.cvae.model import Arch, ConvVAE

__all__ = ["HISTORY_COLUMNS", "SCHEDULES", "TrainConfig", "TrainResult", "TrainingDiverged", "evaluate",
           "init_property_bias", "make_scheduler", "models_dir", "read_history", "steps_per_epoch", "train",
           "train_config"]
SCHEDULES = ("constant", "onecycle", "cosine")


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the message names the epoch and the last good checkpoint."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one CVAE run (the profile's ``cvae`` section, see :func:`train_config`);
    all but ``epochs`` (unless a learning-rate schedule spans them) must match for a resume."""

    kind: str = "physics"  # physics (eq. 2) | vanilla
    epochs: int = 60
    batch_size: int = 128  # the global batch: several processes each train on a share of it
    lr: float = 1e-3
    beta0: float = values.LOSS_BETA0
    beta1: float = values.LOSS_BETA1
    periodic_orientation: bool = False
    augment: bool = False  # random dihedral flips/transposes per batch, orientation target transformed
    schedule: str = "constant"  # constant (paper) | onecycle | cosine: per-step learning rate, peak = lr
    seed: int = 0
    arch: Arch = field(default_factory=Arch)

    def __post_init__(self):
        if self.kind not in LOSSES:
            raise ValueError(f"kind must be one of {sorted(LOSSES)}, got {self.kind!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0 (got {self.epochs}, "
                             f"{self.batch_size}, {self.lr})")

    def hparams(self) -> dict:
        """Plain-dict form saved in checkpoints and compared on resume."""
        d = asdict(self)
        d["arch"] = self.arch.as_dict()
        return d


@dataclass
class TrainResult:
    """What :func:`train` returns: the best checkpoint, its epoch and validation loss, the history."""

    best_path: Path
    best_epoch: int
    best_val_loss: float
    history: pd.DataFrame
    epochs_run: int  # in this call (0 when resumed from a finished run)
    seconds: float


def init_property_bias(model: ConvVAE, p_train: torch.Tensor) -> None:
    """Start μ of latents 1-4 at the training means of their targets (log M* ≈ 10, not 0).

    With Adam each step moves a bias by ~lr, so from zero the log M* latent would need ~10⁴ steps at
    lr 1e-3 just to reach the right mean, and the loss would be all offset and no correlation. The
    targets (and so the meaning of the latents, eq. 2) are unchanged.
    """
    n = p_train.shape[1]
    with torch.no_grad():
        model.enc3[1].bias[:n] = p_train.mean(0).to(model.enc3[1].bias)


def make_scheduler(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """Per-step learning-rate schedule of ``cfg.schedule`` over ``cfg.epochs`` epochs (None: constant).

    onecycle: torch's OneCycleLR (30 % warm-up from lr/25, cosine down to lr/2.5e4); cosine: from lr to
    lr/100 with no warm-up. Both step once per batch.
    """
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.lr / 100)
    return None


def _global_batches(n: int, batch_size: int, generator: torch.Generator, num_processes: int = 1) -> list:
    """The epoch's global batches of training indices, from one permutation drawn from ``generator``
    (seeded alike on every rank). A last batch with fewer galaxies than processes joins the one before
    (each rank needs one); with one process the batches are the permutation cut every ``batch_size``."""
    order = torch.randperm(n, generator=generator)
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < num_processes:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def steps_per_epoch(n: int, batch_size: int, num_processes: int = 1) -> int:
    """Number of :func:`_global_batches` (optimizer steps) of an epoch of ``n`` galaxies."""
    steps, last = math.ceil(n / batch_size), n % batch_size
    return steps - 1 if steps > 1 and 0 < last < num_processes else steps


def _loss_sums(model: ConvVAE, x, p, s, loss_fn, cfg: TrainConfig, batch_size: int) -> dict[str, float]:
    sums: dict[str, float] = {}
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            x_hat, mu, logvar = model(xb)
            terms = loss_fn(xb, x_hat, mu, logvar, p[i:i + batch_size], s[i:i + batch_size],
                            beta0=cfg.beta0, beta1=cfg.beta1, periodic_orientation=cfg.periodic_orientation)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(xb)
    return sums


def evaluate(model: ConvVAE, x, p, s, loss_fn, cfg: TrainConfig, batch_size: int = 1024) -> dict[str, float]:
    """Mean loss terms over a data set, in eval mode (latent = μ, BatchNorm running statistics)."""
    model.eval()
    return {k: v / len(x) for k, v in _loss_sums(model, x, p, s, loss_fn, cfg, batch_size).items()}


@dataclass
class _Run:
    """What one training run works on: its settings, files, accelerator, prepared model and optimizer,
    schedule (stepped by hand) and progress (both saved with the accelerate state)."""

    cfg: TrainConfig
    out_dir: Path
    accelerator: Accelerator
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    loss_fn: Callable
    progress: Progress = field(default_factory=Progress)

    @property
    def best_path(self) -> Path:
        return self.out_dir / checkpoints.BEST_FILE

    @property
    def state_path(self) -> Path:
        return self.out_dir / checkpoints.STATE_DIR

    @property
    def history_path(self) -> Path:
        return self.out_dir / checkpoints.HISTORY_FILE

    def last_good(self, epoch: int) -> str:
        """The checkpoints a run that failed in ``epoch`` can go back to (for error messages)."""
        if not (epoch > 0 and training.is_complete_state(self.state_path)):
            return "none (diverged in the first epoch)"
        return (f"{self.state_path} (end of epoch {epoch - 1}); best: {self.best_path} "
                f"(epoch {self.progress.best_epoch})")


def _start_run(data: TrainData, out_dir: Path, cfg: TrainConfig) -> _Run:
    """A fresh seeded model (property biases at the target means for eq. 2), Adam and its schedule,
    prepared, with the schedule and the progress registered for accelerate's state."""
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    training.seed_everything(cfg.seed)
    model = ConvVAE(cfg.arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.kind == "physics":
        init_property_bias(model, data.p_train)
    n_steps = steps_per_epoch(len(data.x_train), cfg.batch_size, accelerator.num_processes)
    scheduler = make_scheduler(optimizer, cfg, n_steps)  # not prepared: accelerate would step it N times
    if accelerator.num_processes > 1:
        training.sync_batchnorm(model)
    model, optimizer = accelerator.prepare(model, optimizer)
    run = _Run(cfg, out_dir, accelerator, model, optimizer, scheduler, LOSSES[cfg.kind])
    accelerator.register_for_checkpointing(run.progress)
    if scheduler is not None:
        accelerator.register_for_checkpointing(scheduler)
    return run


def _resume(run: _Run, fingerprint: list[float], log: Callable[[str], None]) -> None:
    """Continue from ``last_state/`` when it holds this very run (:func:`checkpoints.can_resume`)."""
    if not checkpoints.can_resume(run.state_path, run.cfg, fingerprint, run.accelerator.num_processes, log):
        return
    training.load_state(run.accelerator, run.state_path)  # weights, Adam, schedule, RNG, progress
    p = run.progress
    log(f"resuming {run.cfg.kind} CVAE from {run.state_path} at epoch {p.start} "
        f"(best val {p.best_val:.4g} at epoch {p.best_epoch})")


def _step(run: _Run, train_set: tuple, batch: torch.Tensor, noise: torch.Tensor, op: int | None) -> float:
    """One optimizer step on this rank's share of a global batch; returns the global batch's mean loss
    (NaN/inf: no step taken). The share's loss is weighted so DDP's gradient average is the global one."""
    acc, cfg = run.accelerator, run.cfg
    idx, weight = training.share_of_global_batch(batch, acc)
    noise, _ = training.share_of_global_batch(noise, acc)
    x_tr, p_tr, s_tr = train_set
    idx = idx.to(acc.device)
    xb, pb = x_tr[idx], p_tr[idx]
    if op is not None:
        xb, pb = dihedral(xb, pb, op)
    x_hat, mu, logvar = run.model(xb, noise)
    loss = run.loss_fn(xb, x_hat, mu, logvar, pb, s_tr[idx], beta0=cfg.beta0, beta1=cfg.beta1,
                       periodic_orientation=cfg.periodic_orientation)["loss"] * weight
    global_loss = training.mean_over_processes(acc, loss)  # every rank sees the same value
    if math.isfinite(global_loss):
        run.optimizer.zero_grad(set_to_none=True)
        acc.backward(loss)
        run.optimizer.step()
    return global_loss


def _train_steps(run: _Run, train_set: tuple, epoch: int) -> tuple[float, float]:
    """One pass over the training galaxies in seeded random batches (dihedral views when ``augment``).

    Returns (mean loss per galaxy, learning rate of the epoch's last step). A non-finite loss raises
    :class:`TrainingDiverged` naming the epoch, batch and last good checkpoint."""
    cfg, acc = run.cfg, run.accelerator
    run.model.train()
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    total, seen = 0.0, 0
    for b, batch in enumerate(_global_batches(len(train_set[0]), cfg.batch_size, gen, acc.num_processes)):
        op = int(torch.randint(8, (1,), generator=gen)) if cfg.augment else None
        # ε of the global batch from the (identically seeded) global generator: what ConvVAE drew itself
        noise = torch.randn(len(batch), cfg.arch.latent_dim, device=acc.device)
        loss = _step(run, train_set, batch, noise, op)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"{cfg.kind} CVAE: loss became {loss} at epoch {epoch}, batch {b} "
                                   f"(lr={cfg.lr}); last good checkpoint: {run.last_good(epoch)}. "
                                   "Lower lr or check the inputs.")
        lr_used = run.optimizer.param_groups[0]["lr"]  # of this step (recorded: the epoch's last)
        if run.scheduler is not None:
            run.scheduler.step()
        total += loss * len(batch)
        seen += len(batch)
    return total / seen, lr_used


def _validate(run: _Run, val_set: tuple) -> dict[str, float]:
    """Mean validation loss terms per galaxy; with several processes each rank evaluates its share of
    the validation set and the shares' means are combined weighted by their sizes."""
    acc = run.accelerator
    model = acc.unwrap_model(run.model)
    if acc.num_processes == 1:
        return evaluate(model, *val_set, run.loss_fn, run.cfg)
    shares = [training.share_of_global_batch(t, acc) for t in val_set]
    terms = evaluate(model, *(share for share, _ in shares), run.loss_fn, run.cfg)
    weighted = torch.tensor(list(terms.values()), dtype=torch.float64, device=acc.device) * shares[0][1]
    return dict(zip(terms, acc.reduce(weighted, reduction="mean").tolist()))


def _one_epoch(run: _Run, train_set: tuple, val_set: tuple, epoch: int) -> tuple[dict, dict[str, float]]:
    """Train one epoch and evaluate it; (history row, validation loss terms)."""
    t0 = time.perf_counter()
    train_loss, lr_used = _train_steps(run, train_set, epoch)
    val = _validate(run, val_set)
    if not math.isfinite(val["loss"]):
        good = run.state_path if training.is_complete_state(run.state_path) else "none"
        raise TrainingDiverged(f"{run.cfg.kind} CVAE: validation loss became {val['loss']} at epoch {epoch}; "
                               f"last good checkpoint: {good}")
    row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"], "val_recon": val["recon"],
           "val_kl": val["kl"], "val_prop": val["prop"], "lr": lr_used, "seconds": time.perf_counter() - t0}
    return row, val


def _end_epoch(run: _Run, row: dict, fingerprint: list[float]) -> None:
    """Record the epoch on every rank; the main process writes ``best.pt`` when the validation loss
    improved, then the state (what a resume needs) and ``history.csv``."""
    p, epoch = run.progress, row["epoch"]
    p.history.append(row)
    p.start = epoch + 1
    improved = row["val_loss"] < p.best_val
    if improved:
        p.best_val, p.best_epoch = row["val_loss"], epoch
    if not run.accelerator.is_main_process:
        return
    if improved:
        model = run.accelerator.unwrap_model(run.model)
        checkpoints.write_best(run.best_path, model, run.cfg, epoch, p.best_val)
    training.save_state(run.accelerator, run.state_path, checkpoints.run_record(run.cfg, fingerprint))
    checkpoints.write_history(run.history_path, p.history)


def train(data: TrainData, out_dir: Path | str, cfg: TrainConfig, resume: bool = True,
          log: Callable[[str], None] = print, log_every: int = 1) -> TrainResult:
    """Train ``cfg.kind`` on ``data``; keep the best-validation checkpoint in ``out_dir``.

    Resumes from ``out_dir/last_state`` when ``resume`` and that run had the same architecture,
    hyper-parameters, number of processes and data (see the module docstring); logs one line every
    ``log_every`` epochs (main process only)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _start_run(data, out_dir, cfg)
    acc = run.accelerator
    say = log if acc.is_main_process else (lambda s: None)
    fingerprint = data.fingerprint()
    if acc.is_main_process:
        checkpoints.drop_old_state(out_dir, say)
    if resume:
        _resume(run, fingerprint, say)
    train_set = tuple(t.to(acc.device) for t in (data.x_train, data.p_train, data.s_train))
    val_set = tuple(t.to(acc.device) for t in (data.x_val, data.p_val, data.s_val))
    t_start, first = time.perf_counter(), run.progress.start
    for epoch in range(first, cfg.epochs):
        row, val = _one_epoch(run, train_set, val_set, epoch)
        _end_epoch(run, row, fingerprint)
        if log_every and (epoch % log_every == 0 or epoch == cfg.epochs - 1):
            say(f"{cfg.kind} epoch {epoch:3d}  train {row['train_loss']:.4g}  val {row['val_loss']:.4g}  "
                f"(recon {val['recon']:.4g}, kl {val['kl']:.4g}, prop {val['prop']:.4g})  "
                f"{row['seconds']:.1f}s")
    acc.wait_for_everyone()  # no rank returns (or starts the next model) before the main one has written
    p = run.progress
    if p.best_epoch < 0:
        raise ValueError(f"no epoch trained in {out_dir} (epochs={cfg.epochs})")
    history = pd.DataFrame(p.history, columns=HISTORY_COLUMNS)
    return TrainResult(run.best_path, p.best_epoch, p.best_val, history, max(0, cfg.epochs - first),
                       time.perf_counter() - t_start)


def models_dir(cfg, kind: str) -> Path:
    """``data/models/<source>-<profile>/cvae/<kind>`` (kind: physics | vanilla | physics_periodic)."""
    return cfg.data_dir("models", "cvae", kind)


def train_config(cfg, kind: str, periodic_orientation: bool = False) -> TrainConfig:
    """The profile's ``cvae`` section as a :class:`TrainConfig` for one model."""
    c = cfg.cvae
    return TrainConfig(kind=kind, epochs=int(c.epochs), batch_size=int(c.batch_size), lr=float(c.lr),
                       beta0=float(c.beta0), beta1=float(c.beta1), periodic_orientation=periodic_orientation,
                       augment=bool(c.augment), schedule=str(c.schedule), seed=int(cfg.seed),
                       arch=Arch(latent_dim=int(c.latent_dim), channels=tuple(c.channels)))
