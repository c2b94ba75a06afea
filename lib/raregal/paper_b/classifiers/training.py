"""Training one classifier on *views*, choosing its threshold on validation, scoring it.

The data are views: an array ``(V, N, ...)`` whose first view is the un-augmented input (used for
validation, test and scoring) and whose other views are augmented copies (all used for training).
The threshold is chosen on the validation split, never on the test split (Ma et al. 2025 §4.2: 10 %
of the training set is held out).

Training runs on :mod:`raregal.core.training` like the other loops: one seeded global batch per step,
each process its share, BatchNorm over the global batch, the loss averaged over processes. It keeps no
checkpoint: the arms write no files and retrain in seconds to minutes, so a rerun simply trains again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from raregal.core import training
from raregal.paper_b.classifiers.model import BinaryClassifier, TrainSettings, loss_value


def as_views(views: Any) -> torch.Tensor:
    """``views`` as a float tensor ``(V, N, ...)``; a missing view axis or NaN/inf is refused."""
    v = torch.as_tensor(np.asarray(views) if not torch.is_tensor(views) else views).float()
    if v.ndim < 3:
        raise ValueError(f"views must be (V, N, ...) — a view axis first — got shape {tuple(v.shape)}")
    if v.numel() and not torch.isfinite(v).all():
        raise ValueError("views contain NaN/inf values")
    return v


def _standardise(model: BinaryClassifier, x: torch.Tensor) -> None:
    """Set the model's input mean and std from the training inputs (per channel for images)."""
    with torch.no_grad():
        dims = [0, 2, 3] if x.ndim == 4 else [0]
        model.mean = x.mean(dim=dims, keepdim=True)[0]
        model.std = x.std(dim=dims, keepdim=True)[0].clamp_min(1e-6)


def _global_batches(order: torch.Tensor, batch_size: int, smallest: int) -> list[torch.Tensor]:
    """The epoch's global batches cut from ``order``; a last batch under ``smallest`` samples joins the
    one before (every process needs a sample; BatchNorm cannot train on one)."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < smallest:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _step(acc, model: nn.Module, opt, data: tuple[torch.Tensor, torch.Tensor], idx: torch.Tensor,
          settings: TrainSettings, augment: nn.Module | None) -> float:
    """One optimizer step on this process's share of the global batch ``idx``; the global batch's mean
    loss. Views are drawn for the whole global batch, so every process has the same ones; the share's
    loss is weighted so that DDP's gradient average is the gradient of the global mean."""
    x, y = data
    xb = x[idx]
    if augment is not None:
        xb = augment(xb)
    xs, weight = training.share_of_global_batch(xb, acc)
    ys, _ = training.share_of_global_batch(y[idx], acc)
    loss = loss_value(model(xs.to(acc.device)), ys.to(acc.device), settings) * weight
    opt.zero_grad()
    acc.backward(loss)
    opt.step()
    return training.mean_over_processes(acc, loss)


def train_binary(model: BinaryClassifier, views: Any, labels: Any, settings: TrainSettings,
                 augment: nn.Module | None = None) -> dict[str, list[float]]:
    """Train ``model`` on every view of every sample (labels repeat across views); returns the loss
    per epoch. ``augment`` (kornia) is applied to each batch when given (``finetune`` mode).

    Under ``accelerate launch`` ``settings.batch_size`` is the global batch: every process draws the
    same batches (and views) and trains on its share, with BatchNorm over the global batch
    (:func:`raregal.core.training.sync_batchnorm`), so N processes train the model of one process.
    Nothing is checkpointed: a classifier trains in seconds (a head on frozen features) to minutes.
    """
    from accelerate import Accelerator

    v = as_views(views)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
    if v.shape[1] != len(y):
        raise ValueError(f"{v.shape[1]} samples but {len(y)} labels")
    if len(y) == 0 or y.min() == y.max():
        raise ValueError(f"training needs both classes; got {int(y.sum())} positives of {len(y)}")
    x = v.reshape(-1, *v.shape[2:])
    y = y.repeat(v.shape[0])
    _standardise(model, x)
    gen = torch.Generator().manual_seed(settings.seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    acc = Accelerator(cpu=not torch.cuda.is_available())
    smallest = max(acc.num_processes, 2 if _has_batchnorm(model) else 1)
    if acc.num_processes > 1:
        training.sync_batchnorm(model)
    prepared, opt = acc.prepare(model, opt)
    history: dict[str, list[float]] = {"loss": []}
    prepared.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for idx in _global_batches(order, settings.batch_size, smallest):
            total += _step(acc, prepared, opt, (x, y), idx, settings, augment) * len(idx)
        history["loss"].append(total / len(y))
    model.eval()
    return history


@torch.no_grad()
def predict_proba(model: BinaryClassifier, inputs: Any, batch_size: int = 512) -> np.ndarray:
    """P(positive) for un-augmented inputs (N, ...)."""
    x = torch.as_tensor(np.asarray(inputs) if not torch.is_tensor(inputs) else inputs).float()
    model.eval()
    device = model.head.weight.device  # where training left it (the accelerator's device)
    out = [torch.sigmoid(model(x[i:i + batch_size].to(device))).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def choose_threshold(y_val: Any, p_val: Any) -> float:
    """The score threshold that maximises F1 on the validation split."""
    from sklearn.metrics import precision_recall_curve

    y_val, p_val = np.asarray(y_val, bool), np.asarray(p_val, float)
    if not y_val.any():
        raise ValueError("the validation split has no positives: cannot choose a threshold")
    prec, rec, thr = precision_recall_curve(y_val, p_val)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)[:-1]
    return float(thr[int(np.argmax(f1))])


def positive_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Purity (precision), completeness (recall) and F1 of the positive class (scikit-learn)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(np.asarray(y_true, bool), np.asarray(y_pred, bool),
                                                 average="binary", pos_label=True, zero_division=0)
    return {"purity": float(p), "completeness": float(r), "f1": float(f)}


@dataclass
class TrainedArm:
    """A trained classifier with its validation threshold."""

    model: BinaryClassifier
    threshold: float
    history: dict[str, list[float]]

    def predict(self, inputs: Any) -> np.ndarray:
        return predict_proba(self.model, inputs) >= self.threshold


def fit_arm(views: Any, labels: Any, split: dict[str, np.ndarray], settings: TrainSettings,
            make_model: Callable[[], BinaryClassifier], augment: nn.Module | None = None,
            synthetic_views: Any = None) -> TrainedArm:
    """Train on ``split['train']`` (+ synthetic positives, all views) and pick the threshold on
    ``split['val']`` (view 0)."""
    v = as_views(views)
    labels = np.asarray(labels, bool)
    tr = split["train"]
    xv, yv = v[:, tr], labels[tr]
    if synthetic_views is not None:
        s = as_views(synthetic_views)
        if s.shape[0] != v.shape[0] or s.shape[2:] != v.shape[2:]:
            raise ValueError(f"synthetic views {tuple(s.shape)} do not match the data views "
                             f"{tuple(v.shape)} (same view count and per-sample shape needed)")
        xv = torch.cat([xv, s], dim=1)
        yv = np.concatenate([yv, np.ones(s.shape[1], bool)])
    torch.manual_seed(settings.seed)
    model = make_model()
    hist = train_binary(model, xv, yv, settings, augment)
    thr = choose_threshold(labels[split["val"]], predict_proba(model, v[0, split["val"]]))
    return TrainedArm(model, thr, hist)
