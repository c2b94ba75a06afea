"""SimCLR training (Ma et al. 2025 Appendix A): NT-Xent over two augmented views, checkpoint and resume.

Two augmented views of one galaxy are pulled together and views of different galaxies pushed apart
(NT-Xent / InfoNCE, τ = 0.5, Adam lr 1e-3). One deviation from the paper's formula: it sums over
the N anchors x_i^a; we average over all 2N views (the symmetric form of Chen et al. 2020), which
only rescales the loss.

The loop runs on :mod:`raregal.core.training` as the CVAE and the diffusion fine-tune do. After every
epoch the main process writes ``simclr.pt`` (the trained model with its settings, read by
:func:`raregal.paper_b.simclr.model.load_simclr`), ``last_state/`` (accelerate's state: weights, Adam,
RNG and the history, with the settings and image count written last) and ``history.csv``. A rerun
continues from ``last_state/`` (or from a ``simclr.pt`` of the format that held the optimizer); each
epoch reseeds from (seed, epoch), so 2 epochs = 1 epoch + resume 1 exactly.

Several processes (``accelerate launch``): ``batch_size`` is the global batch. Every rank draws the
same batches and the same augmented views of the whole global batch, and encodes its share of them
(:func:`raregal.core.training.share_of_global_batch`); the projections of all shares are gathered
(:func:`gather_shares`, whose backward sums the ranks' gradients) so every rank computes NT-Xent over
the global batch — each view's negatives are the other 2N−1 views of the global batch, as with one
process. BatchNorm statistics are those of the global batch (:func:`raregal.core.training.sync_batchnorm`).
There is no learning-rate schedule (constant Adam lr, as in the paper). Only the main process writes;
all ranks wait for it at the end. So N processes follow the run of one process
(``tests/test_simclr_multiprocess.py``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from raregal.core import training
from raregal.core.outputs import atomic_path
from raregal.paper_b.simclr.augment import make_augment
from raregal.paper_b.simclr.model import (
    CHECKPOINT,
    STATE_DIR,
    SimCLRModel,
    SimCLRSettings,
    check_same_run,
    prepare_images,
    read_older_checkpoint,
    save_checkpoint,
    state_record,
)

HISTORY = "history.csv"
HISTORY_COLUMNS = ["epoch", "train_loss", "train_top1", "val_loss", "val_top1", "seconds"]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> tuple[torch.Tensor, float]:
    """NT-Xent over 2N views; returns (mean loss, top-1 = fraction whose positive ranks first).

    Row k of ``z1`` and row k of ``z2`` are the two views of one image; every other of the 2N−1
    views is a negative. Similarities are cosine / τ.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must be (N, d) of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 2:
        raise ValueError("NT-Xent needs at least 2 images per batch (there are no negatives otherwise)")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T) / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    loss = F.cross_entropy(sim, targets)
    top1 = (sim.argmax(dim=1) == targets).float().mean().item()
    return loss, top1


def _split(n: int, settings: SimCLRSettings) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(n)
    n_val = int(round(n * settings.val_fraction))
    if settings.val_fraction > 0:
        n_val = max(n_val, 2)
    if n - n_val < 2:
        raise ValueError(f"{n} images leave {n - n_val} for training; SimCLR needs at least 2")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(idx: np.ndarray, batch_size: int, rng: np.random.Generator | None,
             smallest: int = 2) -> list[np.ndarray]:
    """Global mini-batches of ``idx`` (shuffled if rng); a final batch under ``smallest`` images joins
    the previous one (NT-Xent needs 2; with N processes every rank needs one)."""
    if rng is not None:
        idx = rng.permutation(idx)
    out = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    if len(out) > 1 and len(out[-1]) < smallest:
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


class _GatherShares(torch.autograd.Function):
    """All-gather of the ranks' shares (of known, possibly unequal sizes) along dim 0; the backward
    sums every rank's gradient of the gathered tensor and hands each rank its own rows."""

    @staticmethod
    def forward(ctx, share: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        width = max(sizes)
        padded = share.new_zeros((width, *share.shape[1:]))
        padded[:len(share)] = share
        parts = [torch.empty_like(padded) for _ in sizes]
        torch.distributed.all_gather(parts, padded.contiguous())
        ctx.sizes, ctx.rank = sizes, rank
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None, None


def gather_shares(share: torch.Tensor, total: int, accelerator) -> torch.Tensor:
    """The global batch's rows from every rank's share (split as ``share_of_global_batch`` splits).

    Why a backward that sums over ranks: every rank computes the same global loss L from the gathered
    rows, so the rows of rank r get N·∂L/∂rows_r, and DDP's average over ranks of the weight gradients
    gives ∂L/∂θ, the gradient of one process. With one process it returns ``share`` itself.
    """
    n = accelerator.num_processes
    if n == 1:
        return share
    base, extra = divmod(total, n)
    return _GatherShares.apply(share, [base + (r < extra) for r in range(n)], accelerator.process_index)


class _Progress:
    """The history rows of the epochs done, saved in the accelerate state with the weights they
    belong to (``register_for_checkpointing``)."""

    def __init__(self):
        self.history: list[dict] = []

    def state_dict(self) -> dict:
        return {"history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"])


@dataclass
class _Run:
    """What the epochs share: settings, the accelerator, the prepared model and Adam, the augmentation."""

    settings: SimCLRSettings
    accelerator: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    augment: Any
    progress: _Progress = field(default_factory=_Progress)


def _start_run(settings: SimCLRSettings) -> _Run:
    """A model seeded alike on every rank, Adam, the augmentation; prepared (BatchNorm over the global
    batch with several processes) and with the progress registered for accelerate's state."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(settings.seed)
    model = SimCLRModel(settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    augment = make_augment(settings)
    if accelerator.num_processes > 1:
        training.sync_batchnorm(model)
    model, optimizer = accelerator.prepare(model, optimizer)
    run = _Run(settings, accelerator, model, optimizer, augment)
    accelerator.register_for_checkpointing(run.progress)
    return run


def _projections(run: _Run, views: torch.Tensor) -> torch.Tensor:
    """The projections of a global batch of views: this rank encodes its share, the shares are gathered."""
    share, _ = training.share_of_global_batch(views, run.accelerator)
    return gather_shares(run.model(share.to(run.accelerator.device)), len(views), run.accelerator)


def _contrastive_pass(run: _Run, x: torch.Tensor, batches: list[np.ndarray], train: bool) -> tuple[float, float]:
    """One pass over ``batches``: mean loss and top-1 weighted by batch size (an optimizer step per
    batch if ``train``). Views are drawn for the whole global batch, so every rank has the same ones."""
    acc, temperature = run.accelerator, run.settings.temperature
    tot_loss = tot_top1 = 0.0
    n = 0
    for b in batches:
        xb = x[torch.as_tensor(b)]
        with torch.no_grad():
            v1, v2 = run.augment(xb), run.augment(xb)
        with torch.set_grad_enabled(train):
            loss, top1 = nt_xent(_projections(run, v1), _projections(run, v2), temperature)
        if train:
            run.optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            run.optimizer.step()
        tot_loss += loss.item() * len(b)
        tot_top1 += top1 * len(b)
        n += len(b)
    return tot_loss / max(n, 1), tot_top1 / max(n, 1)


def _epoch(run: _Run, epoch: int, x: torch.Tensor, train_idx: np.ndarray, val_idx: np.ndarray) -> dict:
    """One training pass and (with enough held-out images) one validation pass; the history row.

    Each epoch reseeds from (seed, epoch), so 2 epochs = 1 epoch + resume 1 exactly."""
    settings, smallest = run.settings, max(2, run.accelerator.num_processes)
    t0 = time.perf_counter()
    torch.manual_seed(settings.seed * 100_003 + epoch)
    rng = np.random.default_rng([settings.seed, epoch])
    run.model.train()
    tr_loss, tr_top1 = _contrastive_pass(run, x, _batches(train_idx, settings.batch_size, rng, smallest),
                                         train=True)
    row = {"epoch": epoch, "train_loss": tr_loss, "train_top1": tr_top1,
           "val_loss": math.nan, "val_top1": math.nan}
    if len(val_idx) >= smallest:
        run.model.eval()
        torch.manual_seed(settings.seed * 7 + 1)  # same validation views every epoch
        row["val_loss"], row["val_top1"] = _contrastive_pass(
            run, x, _batches(val_idx, settings.batch_size, None, smallest), train=False)
    row["seconds"] = time.perf_counter() - t0
    return row


def _resume(run: _Run, out_dir: Path, n_images: int, log: Callable[[str], Any]) -> None:
    """Continue from ``last_state/`` (or an older ``simclr.pt`` that held the optimizer) when it is a
    run of the same settings and images; another run there is refused (:func:`check_same_run`)."""
    state, older = out_dir / STATE_DIR, None
    if training.is_complete_state(state):
        record = training.read_hyperparameters(state)
        check_same_run(state, record, run.settings, n_images)
        training.load_state(run.accelerator, state)  # weights, Adam, RNG, history
        where = state
    elif (older := read_older_checkpoint(out_dir / CHECKPOINT)) is not None:
        check_same_run(out_dir / CHECKPOINT, older, run.settings, n_images)
        run.accelerator.unwrap_model(run.model).load_state_dict(older["model"])
        run.optimizer.load_state_dict(older["optimizer"])
        run.progress.history = list(older["history"])
        where = out_dir / CHECKPOINT
    else:
        return
    log(f"resuming {where} after epoch {len(run.progress.history)}")


def _end_epoch(run: _Run, row: dict, out_dir: Path, n_images: int) -> None:
    """Record the epoch on every rank; the main process writes the model, the state and the history."""
    run.progress.history.append(row)
    acc = run.accelerator
    if acc.is_main_process:
        model = acc.unwrap_model(run.model)
        save_checkpoint(out_dir / CHECKPOINT, model, run.settings, run.progress.history, n_images)
        training.save_state(acc, out_dir / STATE_DIR, state_record(run.settings, n_images))
        _write_history(out_dir, run.progress.history)


def _write_history(out_dir: Path, history: list[dict]) -> pd.DataFrame:
    hist = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    with atomic_path(out_dir / HISTORY) as tmp:
        hist.to_csv(tmp, index=False)
    return hist


def train_simclr(images: Any, out_dir: Path | str, settings: SimCLRSettings,
                 resume: bool = True, log=print) -> pd.DataFrame:
    """Train (or resume) SimCLR on ``images`` (N, 3, H, W); checkpoint and history every epoch.

    Writes ``out_dir/simclr.pt`` (settings, weights, history), ``out_dir/last_state/`` (what a resume
    needs) and ``out_dir/history.csv`` (epoch, train/val loss and top-1, seconds). A run with the same
    settings and fewer epochs is resumed; each epoch reseeds from (seed, epoch), so 2 epochs = 1 epoch
    + resume 1 exactly. Under ``accelerate launch`` ``settings.batch_size`` is the global batch (see
    the module docstring); only the main process logs and writes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = prepare_images(images, settings.image_size)
    train_idx, val_idx = _split(len(x), settings)
    run = _start_run(settings)
    acc = run.accelerator
    say = log if acc.is_main_process else (lambda m: None)
    if settings.pretrained is not None:
        say(f"encoder starts from the pretrained trunk {settings.pretrained}; projection head fresh")
    if resume:
        _resume(run, out_dir, len(x), say)
    for epoch in range(len(run.progress.history) + 1, settings.epochs + 1):
        row = _epoch(run, epoch, x, train_idx, val_idx)
        say(f"epoch {epoch}/{settings.epochs}: loss {row['train_loss']:.4f} top-1 {row['train_top1']:.3f} | "
            f"val loss {row['val_loss']:.4f} top-1 {row['val_top1']:.3f} ({row['seconds']:.1f} s)")
        _end_epoch(run, row, out_dir, len(x))
    if acc.is_main_process:
        if not (out_dir / CHECKPOINT).exists():  # epochs=0: still leave a loadable (untrained) encoder
            save_checkpoint(out_dir / CHECKPOINT, acc.unwrap_model(run.model), settings, [], len(x))
        _write_history(out_dir, run.progress.history)
    acc.wait_for_everyone()  # no rank returns before the main one has written
    return pd.DataFrame(run.progress.history, columns=HISTORY_COLUMNS)


def load_history(path: Path | str) -> pd.DataFrame:
    """The per-epoch history (``history.csv``, or the model folder holding it)."""
    path = Path(path)
    return pd.read_csv(path / HISTORY if path.is_dir() else path)
