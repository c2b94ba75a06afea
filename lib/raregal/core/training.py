"""Pieces of an accelerate training loop that every model of the repository can share.

Why here: the diffusion fine-tune, the CVAE, SimCLR and the classifiers all need the same four things
done the same way, and multi-process training is easy to get subtly wrong:

- a learning-rate schedule that accelerate may step once per process per optimizer step (it does so
  for a prepared scheduler unless batches are split), built so one process and N processes follow the
  same curve — the recipe of diffusers' ``examples/text_to_image/train_text_to_image.py``;
- each rank's shard of a global batch that every rank draws identically (seeded by step), so the
  samples of a step do not depend on the number of processes;
- one seed on every rank (``accelerate.utils.set_seed``);
- training state saved with accelerate ``save_state`` together with the hyper-parameters that wrote
  it, atomically, and refused on load when the process count changed (the scheduler's counters are in
  per-process units).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

HYPERPARAMETERS_FILE = "hyperparameters.json"  # written last: a state folder holding it is complete


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) with ``seed`` on every rank.

    The same seed on every rank (not one per rank) because each rank draws the same global batch
    and keeps its shard (:func:`shard_of_global_batch`); DDP broadcasts rank 0's weights anyway.
    """
    from accelerate.utils import set_seed

    set_seed(int(seed), device_specific=False)
    os.environ["PYTHONHASHSEED"] = str(int(seed))  # for subprocesses (notebook kernels, workers)


def warmup_cosine_schedule(optimizer, warmup_steps: int, total_steps: int, num_processes: int = 1):
    """Linear warm-up to the optimizer's lr, then cosine decay to 0 at ``total_steps`` (one cycle).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Holds the peak learning rate.
    warmup_steps, total_steps : int
        Optimizer steps (not scheduler calls); warm-up is capped at ``total_steps - 1``.
    num_processes : int
        ``accelerator.num_processes`` when the scheduler goes through ``accelerator.prepare``: a
        prepared scheduler is stepped ``num_processes`` times per optimizer step, so both lengths are
        multiplied by it (as diffusers' text-to-image example does) and the lr at optimizer step ``s``
        is the same for any number of processes. 1 for a scheduler stepped by hand.
    """
    from diffusers.optimization import get_cosine_schedule_with_warmup

    if total_steps < 1 or num_processes < 1:
        raise ValueError(f"total_steps ({total_steps}) and num_processes ({num_processes}) must be ≥ 1")
    warmup = min(warmup_steps, total_steps - 1)
    return get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=warmup * num_processes,
                                           num_training_steps=total_steps * num_processes)


def shard_of_global_batch(indices: Sequence | np.ndarray | torch.Tensor, accelerator):
    """This rank's contiguous share of a global batch that every rank drew identically.

    Rank ``r`` of ``n`` keeps items ``[r·b/n, (r+1)·b/n)``. The global batch must split evenly:
    with equal shards the mean of the per-rank mean losses (what DDP's gradient average computes)
    is the mean over the global batch, so N processes take the step one process would take.
    """
    n, rank = accelerator.num_processes, accelerator.process_index
    if len(indices) % n:
        raise ValueError(f"a global batch of {len(indices)} does not split evenly over {n} processes; "
                         "choose a batch size that is a multiple of the number of processes")
    size = len(indices) // n
    return indices[rank * size:(rank + 1) * size]


def mean_over_processes(accelerator, value: torch.Tensor) -> float:
    """The mean of a per-rank scalar over all ranks (a global-batch loss from per-shard losses)."""
    return float(accelerator.reduce(value.detach().reshape(1), reduction="mean")[0])


def save_state(accelerator, folder: Path | str, hyperparameters: dict) -> Path:
    """Write ``accelerator.save_state`` and the hyper-parameters into ``folder``, atomically.

    Everything goes to a temporary sibling that is renamed onto ``folder`` at the end, so a crash never
    leaves half a state; ``hyperparameters.json`` (plus ``num_processes``) is written last. Call it on
    the main process only (models, optimizer and scheduler are identical on every rank).
    """
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    accelerator.save_state(str(tmp))
    record = {**hyperparameters, "num_processes": accelerator.num_processes}
    (tmp / HYPERPARAMETERS_FILE).write_text(json.dumps(record, indent=1, default=str))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def is_complete_state(folder: Path | str) -> bool:
    """True for a folder :func:`save_state` finished writing."""
    return (Path(folder) / HYPERPARAMETERS_FILE).is_file()


def load_state(accelerator, folder: Path | str) -> dict:
    """``accelerator.load_state(folder)``; returns the hyper-parameters saved with it.

    Raises ValueError when the state was written by another number of processes: its scheduler has
    counted ``num_processes`` calls per step (:func:`warmup_cosine_schedule`), so resuming with a
    different count would put the learning rate at the wrong point of the schedule.
    """
    folder = Path(folder)
    if not is_complete_state(folder):
        raise FileNotFoundError(f"{folder} is not a complete training state (no {HYPERPARAMETERS_FILE})")
    saved = json.loads((folder / HYPERPARAMETERS_FILE).read_text())
    if saved.get("num_processes", 1) != accelerator.num_processes:
        raise ValueError(f"{folder} was written by {saved['num_processes']} processes; resume it with the "
                         f"same number (now {accelerator.num_processes})")
    accelerator.load_state(str(folder))
    return saved
