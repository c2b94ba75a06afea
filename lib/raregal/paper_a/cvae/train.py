"""Train a physics-informed or vanilla CVAE: accelerate loop, best-validation checkpoint, resume.

Data are held as tensors and batched by index (no per-sample Python lists or collation — see
``benchmarks/cvae.py`` for what that buys). Adam at a constant learning rate, as in the paper
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
from raregal.paper_a.cvae.loss import LOSSES
from raregal.paper_a.cvae.model import Arch, CheckpointMismatchError, ConvVAE, check_arch

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_recon", "val_kl", "val_prop", "lr", "seconds")
SCHEDULES = ("constant", "onecycle", "cosine")


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the message names the epoch and the last good checkpoint."""


@dataclass
class TrainConfig:
    kind: str = "physics"  # physics (eq. 2) | vanilla
    epochs: int = 60
    batch_size: int = 128
    lr: float = 1e-3
    beta0: float = 10.0
    beta1: float = 50.0
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
        d = asdict(self)
        d["arch"] = self.arch.as_dict()
        return d


@dataclass
class TrainData:
    """Normalised images (N, C, H, W) float32 and property targets/errors (N, 4) for train and val."""

    x_train: torch.Tensor
    p_train: torch.Tensor
    s_train: torch.Tensor
    x_val: torch.Tensor
    p_val: torch.Tensor
    s_val: torch.Tensor

    def __post_init__(self):
        for part in ("train", "val"):
            x, p, s = (getattr(self, f"{k}_{part}") for k in "xps")
            if x.ndim != 4 or len(x) == 0:
                raise ValueError(f"x_{part} must be a non-empty (N, C, H, W) tensor, got shape {tuple(x.shape)}")
            if not (len(p) == len(s) == len(x)):
                raise ValueError(f"{part}: {len(x)} images but {len(p)} targets and {len(s)} errors")
            if not torch.isfinite(x).all():
                raise ValueError(f"x_{part} has non-finite pixels; preprocessing must drop those cutouts")
            if not (torch.isfinite(p).all() and torch.isfinite(s).all() and (s > 0).all()):
                raise ValueError(f"{part}: targets must be finite and errors > 0 (use loss.property_targets)")

    def fingerprint(self) -> list[float]:
        """Cheap identity of the data set, so a resume never mixes two data sets."""
        return [float(len(self.x_train)), float(len(self.x_val)), float(self.p_train.double().sum()),
                float(self.x_train[::37].double().sum()), float(self.x_val[::37].double().sum())]


@dataclass
class TrainResult:
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


def dihedral(x: torch.Tensor, p: torch.Tensor, op: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 flips/transposes of a square image, with the orientation target (column 0) moved.

    Convention of CONTRIBUTING.md: φ counter-clockwise from +x (columns) toward +y (rows), mod π.
    Transpose: φ → π/2 − φ; flipping rows or columns: φ → −φ. z, M*, SFR do not change. A galaxy
    seen flipped is another equally likely galaxy, so this multiplies the training set by 8 — needed
    on a few thousand galaxies, where the dense head (32·18·18 inputs) otherwise memorises the targets.
    """
    from raregal.paper_a.cvae.loss import wrap_orientation

    phi = p[:, :1]
    if op & 4:
        x, phi = x.transpose(-1, -2), math.pi / 2 - phi
    if op & 1:
        x, phi = x.flip(-1), -phi
    if op & 2:
        x, phi = x.flip(-2), -phi
    return x, torch.cat([wrap_orientation(phi), p[:, 1:]], 1)


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


def train(data: TrainData, out_dir: Path | str, cfg: TrainConfig, resume: bool = True,
          log: Callable[[str], None] = print, log_every: int = 1) -> TrainResult:
    """Train ``cfg.kind`` on ``data``; keep the best-validation checkpoint in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    best_path, last_path, hist_path = out_dir / "best.pt", out_dir / "last.pt", out_dir / "history.csv"
    loss_fn = LOSSES[cfg.kind]
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(cfg.seed)
    model = ConvVAE(cfg.arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.kind == "physics":
        init_property_bias(model, data.p_train)
    steps_per_epoch = math.ceil(math.ceil(len(data.x_train) / accelerator.num_processes) / cfg.batch_size)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch)
    history: list[dict] = []
    start, best_val, best_epoch = 0, float("inf"), -1
    state = _resume_state(last_path, cfg, data, log) if (resume and last_path.exists()) else None
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        history = state["history"]
        start, best_val, best_epoch = state["epoch"] + 1, state["best_val_loss"], state["best_epoch"]
        log(f"resuming {cfg.kind} CVAE from {last_path} at epoch {start} (best val {best_val:.4g} at epoch {best_epoch})")
    model, optimizer = accelerator.prepare(model, optimizer)
    dev = accelerator.device
    x_tr, p_tr, s_tr = (t.to(dev) for t in (data.x_train, data.p_train, data.s_train))
    x_va, p_va, s_va = (t.to(dev) for t in (data.x_val, data.p_val, data.s_val))
    fingerprint = data.fingerprint()
    t_start, run = time.perf_counter(), 0
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        total, seen = 0.0, 0
        for b, idx in enumerate(_batches(len(x_tr), cfg.batch_size, gen,
                                         accelerator.process_index, accelerator.num_processes)):
            idx = idx.to(dev)
            xb, pb = x_tr[idx], p_tr[idx]
            if cfg.augment:
                xb, pb = dihedral(xb, pb, int(torch.randint(8, (1,), generator=gen)))
            x_hat, mu, logvar = model(xb)
            loss = loss_fn(xb, x_hat, mu, logvar, pb, s_tr[idx], beta0=cfg.beta0, beta1=cfg.beta1,
                           periodic_orientation=cfg.periodic_orientation)["loss"]
            if not torch.isfinite(loss):
                good = (f"{last_path} (end of epoch {epoch - 1}); best: {best_path} (epoch {best_epoch})"
                        if last_path.exists() and epoch > 0 else "none (diverged in the first epoch)")
                raise TrainingDiverged(f"{cfg.kind} CVAE: loss became {float(loss)} at epoch {epoch}, batch {b} "
                                       f"(lr={cfg.lr}); last good checkpoint: {good}. Lower lr or check the inputs.")
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            lr_used = optimizer.param_groups[0]["lr"]  # of this step (recorded: the epoch's last)
            if scheduler is not None:
                scheduler.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        unwrapped = accelerator.unwrap_model(model)
        val = evaluate(unwrapped, x_va, p_va, s_va, loss_fn, cfg)
        if not np.isfinite(val["loss"]):
            raise TrainingDiverged(f"{cfg.kind} CVAE: validation loss became {val['loss']} at epoch {epoch}; "
                                   f"last good checkpoint: {last_path if last_path.exists() else 'none'}")
        row = {"epoch": epoch, "train_loss": total / seen, "val_loss": val["loss"], "val_recon": val["recon"],
               "val_kl": val["kl"], "val_prop": val["prop"], "lr": lr_used,
               "seconds": time.perf_counter() - t0}
        history.append(row)
        run += 1
        if accelerator.is_main_process:
            payload = {"arch": cfg.arch.as_dict(), "hparams": cfg.hparams(), "kind": cfg.kind,
                       "state_dict": {k: v.detach().cpu() for k, v in unwrapped.state_dict().items()}}
            if val["loss"] < best_val:
                best_val, best_epoch = val["loss"], epoch
                _save({**payload, "epoch": epoch, "val_loss": best_val}, best_path)
            _save({**payload, "epoch": epoch, "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                   "scheduler": scheduler.state_dict() if scheduler is not None else None,
                   "history": history, "best_val_loss": best_val, "best_epoch": best_epoch,
                   "fingerprint": fingerprint}, last_path)
            with atomic_path(hist_path) as tmp:
                pd.DataFrame(history, columns=HISTORY_COLUMNS).to_csv(tmp, index=False)
        if log_every and (epoch % log_every == 0 or epoch == cfg.epochs - 1):
            log(f"{cfg.kind} epoch {epoch:3d}  train {row['train_loss']:.4g}  val {row['val_loss']:.4g}  "
                f"(recon {val['recon']:.4g}, kl {val['kl']:.4g}, prop {val['prop']:.4g})  {row['seconds']:.1f}s")
    if best_epoch < 0:
        raise ValueError(f"no epoch trained in {out_dir} (epochs={cfg.epochs})")
    return TrainResult(best_path, best_epoch, best_val, pd.DataFrame(history, columns=HISTORY_COLUMNS), run,
                       time.perf_counter() - t_start)


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


def data_from_processed(images, catalog: pd.DataFrame, floors: dict | None = None):
    """(TrainData, Targets report) from ``load_processed``: rows with split train / val."""
    from raregal.paper_a.cvae.loss import property_targets

    if "split" not in catalog.columns:
        raise ValueError("processed catalog has no 'split' column; rerun 02_preprocess")
    tr = (catalog["split"] == "train").to_numpy()
    va = (catalog["split"] == "val").to_numpy()
    if not tr.any() or not va.any():
        raise ValueError(f"need train and val rows, have {catalog['split'].value_counts().to_dict()}")
    targets = property_targets(catalog[tr | va], floors=floors)
    x = torch.from_numpy(np.ascontiguousarray(images[tr | va], dtype=np.float32))
    p, s = torch.from_numpy(targets.values), torch.from_numpy(targets.sigmas)
    sub = np.flatnonzero(tr | va)
    in_tr = torch.from_numpy(tr[sub])
    return TrainData(x[in_tr], p[in_tr], s[in_tr], x[~in_tr], p[~in_tr], s[~in_tr]), targets


def figure_loss_curves(histories: dict[str, pd.DataFrame], title: str = ""):
    """Training and validation loss per epoch for each model, best-validation epoch marked."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(5.2 * len(histories), 3.8), squeeze=False)
    for ax, (name, h) in zip(axes[0], histories.items()):
        ax.plot(h.epoch, h.train_loss, label="train")
        ax.plot(h.epoch, h.val_loss, label="validation")
        best = h.loc[h.val_loss.idxmin()]
        ax.axvline(best.epoch, color="0.5", ls=":", lw=1)
        ax.plot(best.epoch, best.val_loss, "k*", ms=9, label=f"best val (epoch {int(best.epoch)})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss per galaxy")
        ax.set_title(f"{name} CVAE", fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
