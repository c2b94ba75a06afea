"""Train a physics-informed or vanilla CVAE: accelerate loop, best-validation checkpoint, resume.

The data (:class:`raregal.paper_a.cvae.data.TrainData`) are tensors batched here by index. Adam at a constant learning rate, as in the paper
(``schedule="constant"``), or — where few epochs must converge — a one-cycle or cosine schedule per
step peaking at ``lr``. Files in ``out_dir``:

- ``best.pt``: weights at the lowest validation loss, with ``arch``, ``hparams``, ``epoch``, ``val_loss``
  (reload with :func:`raregal.paper_a.cvae.model.load_model`);
- ``last.pt``: the end of the latest epoch plus optimizer/RNG state and history, for resume;
- ``history.csv``: one row per epoch (train/val loss and the val terms of the loss).

A rerun with ``resume=True`` continues from ``last.pt`` (or returns at once when all epochs are done);
with another architecture, other hyper-parameters (``epochs`` aside — unless a schedule ties the
learning rate to the number of epochs) or another data set it says so and starts over. A non-finite loss
stops training with :class:`TrainingDiverged` naming the epoch and the last good checkpoint.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator

from raregal.core.outputs import atomic_path
from raregal.paper_a import values
from raregal.paper_a.cvae.data import TrainData, dihedral
from raregal.paper_a.cvae.loss import LOSSES
from raregal.paper_a.cvae.model import Arch, CheckpointMismatchError, ConvVAE, check_arch

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_recon", "val_kl", "val_prop", "lr", "seconds")
SCHEDULES = ("constant", "onecycle", "cosine")


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the message names the epoch and the last good checkpoint."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one CVAE run (the profile's ``cvae`` section, see :func:`train_config`);
    all but ``epochs`` (unless a learning-rate schedule spans them) must match for a resume."""

    kind: str = "physics"  # physics (eq. 2) | vanilla
    epochs: int = 60
    batch_size: int = 128
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


def _batches(n: int, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1):
    order = torch.randperm(n, generator=generator)
    order = order[rank::world]  # each process takes its shard (multi-GPU through accelerate)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def evaluate(model: ConvVAE, x, p, s, loss_fn, cfg: TrainConfig, batch_size: int = 1024) -> dict[str, float]:
    """Mean loss terms over a data set, in eval mode (latent = μ, BatchNorm running statistics)."""
    model.eval()
    sums: dict[str, float] = {}
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            x_hat, mu, logvar = model(xb)
            terms = loss_fn(xb, x_hat, mu, logvar, p[i:i + batch_size], s[i:i + batch_size],
                            beta0=cfg.beta0, beta1=cfg.beta1, periodic_orientation=cfg.periodic_orientation)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(xb)
    return {k: v / len(x) for k, v in sums.items()}


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _resume_state(last: Path, cfg: TrainConfig, data: TrainData, log) -> dict | None:
    """The saved state to continue from, or None (logged) when the run it belongs to is another one.

    A different architecture, other hyper-parameters (``epochs`` aside, unless a learning-rate schedule
    spans them) or another data set mean a new experiment: it trains from scratch and replaces the files, saying why.
    """
    state = torch.load(last, map_location="cpu", weights_only=False)
    if "hparams" not in state or "fingerprint" not in state:
        raise CheckpointMismatchError(f"{last} is not a raregal CVAE training state; move it away")
    try:
        check_arch(state["arch"], cfg.arch, where=str(last))
    except CheckpointMismatchError as err:
        log(f"{err}; training from scratch")
        return None
    # states written before schedules existed trained at a constant learning rate
    mine, theirs = cfg.hparams(), {"schedule": "constant", **state["hparams"]}
    free = () if cfg.schedule != "constant" else ("epochs",)  # a schedule spans exactly `epochs`
    diffs = {k: f"{theirs.get(k)} -> {v}" for k, v in mine.items() if k not in free and theirs.get(k) != v}
    if diffs:
        log(f"{last}: hyper-parameters changed since that run {diffs}; training from scratch")
        return None
    if not np.allclose(state["fingerprint"], data.fingerprint(), rtol=1e-6):
        log(f"{last}: the data set changed since that run; training from scratch")
        return None
    return state


@dataclass
class _Run:
    """What one training run works on: its settings, files, accelerator, model, optimizer, schedule."""

    cfg: TrainConfig
    out_dir: Path
    accelerator: Accelerator
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    loss_fn: Callable

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    @property
    def history_path(self) -> Path:
        return self.out_dir / "history.csv"


@dataclass
class _Progress:
    """Where a run stands: the epoch rows so far, the next epoch, the best validation loss and its epoch."""

    history: list[dict] = field(default_factory=list)
    start: int = 0
    best_val: float = float("inf")
    best_epoch: int = -1


def _start_run(data: TrainData, out_dir: Path, cfg: TrainConfig) -> _Run:
    """A fresh seeded model (property biases at the target means for eq. 2), Adam and its schedule."""
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(cfg.seed)
    model = ConvVAE(cfg.arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.kind == "physics":
        init_property_bias(model, data.p_train)
    steps_per_epoch = math.ceil(math.ceil(len(data.x_train) / accelerator.num_processes) / cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch)
    return _Run(cfg, out_dir, accelerator, model, optimizer, scheduler, LOSSES[cfg.kind])


def _restore(run: _Run, state: dict) -> _Progress:
    """Load weights, optimizer, schedule and RNG state from ``last.pt``; the epoch to continue from."""
    run.model.load_state_dict(state["state_dict"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return _Progress(state["history"], state["epoch"] + 1, state["best_val_loss"], state["best_epoch"])


def _train_steps(run: _Run, train_set: tuple, epoch: int, progress: _Progress) -> tuple[float, float]:
    """One pass over the training galaxies in seeded random batches (dihedral views when ``augment``).

    Returns (mean loss per galaxy, learning rate of the epoch's last step). A non-finite loss raises
    :class:`TrainingDiverged` naming the epoch, batch and last good checkpoint."""
    cfg, model, optimizer, accelerator = run.cfg, run.model, run.optimizer, run.accelerator
    x_tr, p_tr, s_tr = train_set
    model.train()
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    total, seen = 0.0, 0
    for b, idx in enumerate(_batches(len(x_tr), cfg.batch_size, gen,
                                     accelerator.process_index, accelerator.num_processes)):
        idx = idx.to(accelerator.device)
        xb, pb = x_tr[idx], p_tr[idx]
        if cfg.augment:
            xb, pb = dihedral(xb, pb, int(torch.randint(8, (1,), generator=gen)))
        x_hat, mu, logvar = model(xb)
        loss = run.loss_fn(xb, x_hat, mu, logvar, pb, s_tr[idx], beta0=cfg.beta0, beta1=cfg.beta1,
                           periodic_orientation=cfg.periodic_orientation)["loss"]
        if not torch.isfinite(loss):
            good = (f"{run.last_path} (end of epoch {epoch - 1}); best: {run.best_path} (epoch {progress.best_epoch})"
                    if run.last_path.exists() and epoch > 0 else "none (diverged in the first epoch)")
            raise TrainingDiverged(f"{cfg.kind} CVAE: loss became {float(loss)} at epoch {epoch}, batch {b} "
                                   f"(lr={cfg.lr}); last good checkpoint: {good}. Lower lr or check the inputs.")
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        lr_used = optimizer.param_groups[0]["lr"]  # of this step (recorded: the epoch's last)
        if run.scheduler is not None:
            run.scheduler.step()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
    return total / seen, lr_used


def _one_epoch(run: _Run, train_set: tuple, val_set: tuple, epoch: int,
               progress: _Progress) -> tuple[dict, dict[str, float]]:
    """Train one epoch and evaluate it; (history row, validation loss terms)."""
    t0 = time.perf_counter()
    train_loss, lr_used = _train_steps(run, train_set, epoch, progress)
    val = evaluate(run.accelerator.unwrap_model(run.model), *val_set, run.loss_fn, run.cfg)
    if not np.isfinite(val["loss"]):
        raise TrainingDiverged(f"{run.cfg.kind} CVAE: validation loss became {val['loss']} at epoch {epoch}; "
                               f"last good checkpoint: {run.last_path if run.last_path.exists() else 'none'}")
    row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val["loss"], "val_recon": val["recon"],
           "val_kl": val["kl"], "val_prop": val["prop"], "lr": lr_used, "seconds": time.perf_counter() - t0}
    return row, val


def _save_epoch(run: _Run, epoch: int, val_loss: float, progress: _Progress, fingerprint: list[float]) -> None:
    """``best.pt`` when the validation loss improved; ``last.pt`` (optimizer, schedule, RNG, history,
    data fingerprint: what a resume needs) and ``history.csv`` every epoch."""
    unwrapped = run.accelerator.unwrap_model(run.model)
    cfg = run.cfg
    payload = {"arch": cfg.arch.as_dict(), "hparams": cfg.hparams(), "kind": cfg.kind,
               "state_dict": {k: v.detach().cpu() for k, v in unwrapped.state_dict().items()}}
    if val_loss < progress.best_val:
        progress.best_val, progress.best_epoch = val_loss, epoch
        _save({**payload, "epoch": epoch, "val_loss": progress.best_val}, run.best_path)
    _save({**payload, "epoch": epoch, "optimizer": run.optimizer.state_dict(), "rng": torch.get_rng_state(),
           "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
           "history": progress.history, "best_val_loss": progress.best_val, "best_epoch": progress.best_epoch,
           "fingerprint": fingerprint}, run.last_path)
    with atomic_path(run.history_path) as tmp:
        pd.DataFrame(progress.history, columns=HISTORY_COLUMNS).to_csv(tmp, index=False)


def train(data: TrainData, out_dir: Path | str, cfg: TrainConfig, resume: bool = True,
          log: Callable[[str], None] = print, log_every: int = 1) -> TrainResult:
    """Train ``cfg.kind`` on ``data``; keep the best-validation checkpoint in ``out_dir``.

    Resumes from ``out_dir/last.pt`` when ``resume`` and that run had the same architecture,
    hyper-parameters and data (see the module docstring); logs one line every ``log_every`` epochs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _start_run(data, out_dir, cfg)
    progress = _Progress()
    state = _resume_state(run.last_path, cfg, data, log) if (resume and run.last_path.exists()) else None
    if state is not None:
        progress = _restore(run, state)
        log(f"resuming {cfg.kind} CVAE from {run.last_path} at epoch {progress.start} "
            f"(best val {progress.best_val:.4g} at epoch {progress.best_epoch})")
    run.model, run.optimizer = run.accelerator.prepare(run.model, run.optimizer)
    dev = run.accelerator.device
    train_set = tuple(t.to(dev) for t in (data.x_train, data.p_train, data.s_train))
    val_set = tuple(t.to(dev) for t in (data.x_val, data.p_val, data.s_val))
    fingerprint = data.fingerprint()
    t_start, n_run = time.perf_counter(), 0
    for epoch in range(progress.start, cfg.epochs):
        row, val = _one_epoch(run, train_set, val_set, epoch, progress)
        progress.history.append(row)
        n_run += 1
        if run.accelerator.is_main_process:
            _save_epoch(run, epoch, val["loss"], progress, fingerprint)
        if log_every and (epoch % log_every == 0 or epoch == cfg.epochs - 1):
            log(f"{cfg.kind} epoch {epoch:3d}  train {row['train_loss']:.4g}  val {row['val_loss']:.4g}  "
                f"(recon {val['recon']:.4g}, kl {val['kl']:.4g}, prop {val['prop']:.4g})  {row['seconds']:.1f}s")
    if progress.best_epoch < 0:
        raise ValueError(f"no epoch trained in {out_dir} (epochs={cfg.epochs})")
    return TrainResult(run.best_path, progress.best_epoch, progress.best_val,
                       pd.DataFrame(progress.history, columns=HISTORY_COLUMNS), n_run, time.perf_counter() - t_start)


def read_history(out_dir: Path | str) -> pd.DataFrame:
    """The loss history a training run saved (for plotting without retraining)."""
    from raregal.core.config import require

    return pd.read_csv(require(Path(out_dir) / "history.csv", made_by="03_train_cvae"))


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
