"""The files of one CVAE training run, and whether a saved run may be continued.

Why one module: the loop (:mod:`raregal.paper_a.cvae.train`) writes them, notebooks 03-06 and
:mod:`raregal.paper_a.infer` read ``best.pt``, and the resume rules are easier to check in one place.
``out_dir`` holds

- ``best.pt``: weights at the lowest validation loss with ``arch``, ``hparams``, ``kind``, ``epoch``,
  ``val_loss`` (reloaded by :func:`raregal.paper_a.cvae.model.load_model`);
- ``last_state/``: accelerate's state at the end of the latest epoch (weights, Adam, the learning-rate
  schedule, every RNG, the run's :class:`Progress`), written with :func:`raregal.core.training.save_state`,
  whose ``hyperparameters.json`` (written last) names the run: kind, hyper-parameters, data fingerprint;
- ``history.csv``: one row per epoch (train/val loss, the val terms of the loss, lr, seconds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from raregal.core import training
from raregal.core.outputs import atomic_path
from raregal.paper_a.cvae.model import CheckpointMismatchError, check_arch

BEST_FILE = "best.pt"
STATE_DIR = "last_state"
HISTORY_FILE = "history.csv"
OLD_STATE_FILE = "last.pt"  # what the loop saved before it used accelerate's state; not resumable
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_recon", "val_kl", "val_prop", "lr", "seconds")


@dataclass
class Progress:
    """Where a run stands: the epoch rows so far, the next epoch, the best validation loss and its epoch.

    Saved in the accelerate state (``register_for_checkpointing``), so the history and the best epoch
    are restored together with the weights they belong to."""

    history: list[dict] = field(default_factory=list)
    start: int = 0
    best_val: float = float("inf")
    best_epoch: int = -1

    def state_dict(self) -> dict:
        return {"history": self.history, "start": self.start, "best_val": self.best_val,
                "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.history, self.start = list(state["history"]), int(state["start"])
        self.best_val, self.best_epoch = float(state["best_val"]), int(state["best_epoch"])


def run_record(cfg, fingerprint: list[float]) -> dict:
    """What names a run in its state's ``hyperparameters.json`` (``cfg``: a ``TrainConfig``)."""
    return {"kind": cfg.kind, "arch": cfg.arch.as_dict(), "hparams": cfg.hparams(),
            "fingerprint": fingerprint}


def write_best(path: Path, model: torch.nn.Module, cfg, epoch: int, val_loss: float) -> None:
    """``best.pt``: the (unwrapped) model's weights on the CPU with what :func:`load_model` checks."""
    payload = {"arch": cfg.arch.as_dict(), "hparams": cfg.hparams(), "kind": cfg.kind,
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "epoch": epoch, "val_loss": val_loss}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def write_history(path: Path, history: list[dict]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame(history, columns=HISTORY_COLUMNS).to_csv(tmp, index=False)


def read_history(out_dir: Path | str) -> pd.DataFrame:
    """The loss history a training run saved (for plotting without retraining)."""
    from raregal.core.config import require

    return pd.read_csv(require(Path(out_dir) / HISTORY_FILE, made_by="03_train_cvae"))


def can_resume(state_dir: Path, cfg, fingerprint: list[float], num_processes: int,
               log: Callable[[str], None]) -> bool:
    """True when ``state_dir`` holds a complete state of this very run; otherwise False (logged why).

    A different architecture, other hyper-parameters (``epochs`` aside, unless a learning-rate schedule
    spans them), another number of processes or another data set mean a new experiment: it trains
    from scratch and replaces the files, saying why. A complete state that is not a CVAE's is an error.
    """
    if not training.is_complete_state(state_dir):
        return False
    saved = training.read_hyperparameters(state_dir)
    if "hparams" not in saved or "fingerprint" not in saved:
        raise CheckpointMismatchError(f"{state_dir} is not a raregal CVAE training state; move it away")
    try:
        check_arch(saved["arch"], cfg.arch, where=str(state_dir))
    except CheckpointMismatchError as err:
        log(f"{err}; training from scratch")
        return False
    mine = {**cfg.hparams(), "num_processes": num_processes}
    theirs = {**saved["hparams"], "num_processes": saved.get("num_processes", 1)}
    free = () if cfg.schedule != "constant" else ("epochs",)  # a schedule spans exactly `epochs`
    diffs = {k: f"{theirs.get(k)} -> {v}" for k, v in mine.items() if k not in free and theirs.get(k) != v}
    if diffs:
        log(f"{state_dir}: hyper-parameters changed since that run {diffs}; training from scratch")
        return False
    if not np.allclose(saved["fingerprint"], fingerprint, rtol=1e-6):
        log(f"{state_dir}: the data set changed since that run; training from scratch")
        return False
    return True


def drop_old_state(out_dir: Path, log: Callable[[str], None]) -> None:
    """Remove a ``last.pt`` of the loop's earlier format (it cannot be resumed), saying so."""
    old = out_dir / OLD_STATE_FILE
    if old.exists():
        log(f"{old}: a training state of an older format (before {STATE_DIR}/), which cannot be resumed; "
            "removed")
        old.unlink()
