"""SimCLR training (Ma et al. 2025 Appendix A): NT-Xent over two augmented views, checkpoint and resume.

Two augmented views of one galaxy are pulled together and views of different galaxies pushed apart
(NT-Xent / InfoNCE, τ = 0.5, Adam lr 1e-3). One deviation from the paper's formula: it sums over
the N anchors x_i^a; we average over all 2N views (the symmetric form of Chen et al. 2020), which
only rescales the loss.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from raregal.core.outputs import atomic_path
from raregal.paper_b.simclr.augment import make_augment
from raregal.paper_b.simclr.model import (
    CHECKPOINT,
    SimCLRModel,
    SimCLRSettings,
    prepare_images,
    save_checkpoint,
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


def _batches(idx: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Mini-batches of ``idx`` (shuffled if rng); a final batch of 1 joins the previous one."""
    if rng is not None:
        idx = rng.permutation(idx)
    out = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


def _contrastive_pass(model, augment, x, batches, settings, optimizer=None) -> tuple[float, float]:
    """One pass over ``batches``: mean loss and top-1 weighted by batch size (trains if optimizer)."""
    tot_loss = tot_top1 = 0.0
    n = 0
    for b in batches:
        xb = x[torch.as_tensor(b)]
        with torch.no_grad():
            v1, v2 = augment(xb), augment(xb)
        with torch.set_grad_enabled(optimizer is not None):
            loss, top1 = nt_xent(model(v1), model(v2), settings.temperature)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        tot_loss += loss.item() * len(b)
        tot_top1 += top1 * len(b)
        n += len(b)
    return tot_loss / max(n, 1), tot_top1 / max(n, 1)


def _resume(ckpt_path: Path, settings: SimCLRSettings, n_images: int, model: SimCLRModel,
            optimizer: torch.optim.Optimizer, log: Callable[[str], Any]) -> list[dict]:
    """Load a checkpoint of the same model and image count into ``model`` and ``optimizer``; its
    history (one row per epoch done)."""
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    old = SimCLRSettings.from_dict(ckpt["settings"])
    if not old.same_model(settings):
        raise ValueError(f"{ckpt_path} was trained with different settings ({old}); "
                         f"use another out_dir or resume=False")
    if ckpt["n_images"] != n_images:
        raise ValueError(f"{ckpt_path} was trained on {ckpt['n_images']} images, got {n_images}")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    history = list(ckpt["history"])
    log(f"resuming {ckpt_path} after epoch {len(history)}")
    return history


def _epoch(epoch: int, model: SimCLRModel, optimizer: torch.optim.Optimizer, augment: Any,
           x: torch.Tensor, train_idx: np.ndarray, val_idx: np.ndarray, settings: SimCLRSettings) -> dict:
    """One training pass and (with ≥ 2 held-out images) one validation pass; the history row.

    Each epoch reseeds from (seed, epoch), so 2 epochs = 1 epoch + resume 1 exactly."""
    t0 = time.perf_counter()
    torch.manual_seed(settings.seed * 100_003 + epoch)
    rng = np.random.default_rng([settings.seed, epoch])
    model.train()
    tr_loss, tr_top1 = _contrastive_pass(model, augment, x, _batches(train_idx, settings.batch_size, rng),
                                         settings, optimizer)
    row = {"epoch": epoch, "train_loss": tr_loss, "train_top1": tr_top1,
           "val_loss": math.nan, "val_top1": math.nan}
    if len(val_idx) >= 2:
        model.eval()
        torch.manual_seed(settings.seed * 7 + 1)  # same validation views every epoch
        row["val_loss"], row["val_top1"] = _contrastive_pass(
            model, augment, x, _batches(val_idx, settings.batch_size, None), settings)
    row["seconds"] = time.perf_counter() - t0
    return row


def train_simclr(images: Any, out_dir: Path | str, settings: SimCLRSettings,
                 resume: bool = True, log=print) -> pd.DataFrame:
    """Train (or resume) SimCLR on ``images`` (N, 3, H, W); checkpoint and history every epoch.

    Writes ``out_dir/simclr.pt`` (settings, weights, optimiser, history) and ``out_dir/history.csv``
    (epoch, train/val loss and top-1, seconds). A checkpoint with the same settings and fewer epochs
    is resumed; each epoch reseeds from (seed, epoch), so 2 epochs = 1 epoch + resume 1 exactly.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = prepare_images(images, settings.image_size)
    train_idx, val_idx = _split(len(x), settings)
    torch.manual_seed(settings.seed)
    model = SimCLRModel(settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    augment = make_augment(settings)
    ckpt_path = out_dir / CHECKPOINT
    history: list[dict] = []
    if resume and ckpt_path.exists():
        history = _resume(ckpt_path, settings, len(x), model, optimizer, log)
    for epoch in range(len(history) + 1, settings.epochs + 1):
        row = _epoch(epoch, model, optimizer, augment, x, train_idx, val_idx, settings)
        history.append(row)
        log(f"epoch {epoch}/{settings.epochs}: loss {row['train_loss']:.4f} top-1 {row['train_top1']:.3f} | "
            f"val loss {row['val_loss']:.4f} top-1 {row['val_top1']:.3f} ({row['seconds']:.1f} s)")
        save_checkpoint(ckpt_path, model, optimizer, settings, history, len(x))
    if not ckpt_path.exists():  # epochs=0: still leave a loadable (untrained) encoder
        save_checkpoint(ckpt_path, model, optimizer, settings, history, len(x))
    hist = pd.DataFrame(history, columns=HISTORY_COLUMNS)
    with atomic_path(out_dir / HISTORY) as tmp:
        hist.to_csv(tmp, index=False)
    return hist


def load_history(path: Path | str) -> pd.DataFrame:
    """The per-epoch history (``history.csv``, or the model folder holding it)."""
    path = Path(path)
    return pd.read_csv(path / HISTORY if path.is_dir() else path)
