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
  per-process units);
- for networks with BatchNorm, batch statistics over the global batch rather than each rank's shard
  (:func:`sync_batchnorm`), so a step of N processes is the step of one process.
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


def share_of_global_batch(indices: Sequence | np.ndarray | torch.Tensor, accelerator):
    """This rank's contiguous share of a global batch that may not split evenly, and its loss weight.

    For an epoch's last, smaller batch. Shares differ by at most one item (the first ``len % n`` ranks
    take one more) and each must be non-empty. The weight ``n·len(share)/len(batch)`` (1 for equal
    shares) turns a share's mean loss into its part of the global-batch mean under DDP's gradient
    average: ``mean_r(weight_r · mean_r) = Σ_r len_r·mean_r / len(batch)``.

    Returns
    -------
    (share, weight) : (same type as ``indices``, float)
    """
    n, rank = accelerator.num_processes, accelerator.process_index
    if len(indices) < n:
        raise ValueError(f"a global batch of {len(indices)} leaves a process without data ({n} processes)")
    base, extra = divmod(len(indices), n)
    size = base + (rank < extra)
    start = rank * base + min(rank, extra)
    return indices[start:start + size], n * size / len(indices)


def mean_over_processes(accelerator, value: torch.Tensor) -> float:
    """The mean of a per-rank scalar over all ranks (a global-batch loss from per-shard losses)."""
    return float(accelerator.reduce(value.detach().reshape(1), reduction="mean")[0])


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradients: every rank's loss depends on every
    rank's share of a sum, so each rank's input gets the sum of all ranks' upstream gradients."""

    @staticmethod
    def forward(ctx, tensor):
        out = tensor.clone()
        torch.distributed.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        torch.distributed.all_reduce(grad)
        return grad


class CrossProcessBatchNorm(torch.nn.BatchNorm2d):
    """BatchNorm whose training statistics are those of the global batch, on any device and backend.

    torch's ``SyncBatchNorm`` refuses CPU tensors (gloo); this one all-reduces per-channel sums, sums of
    squares and counts (in float64) and normalises with the global mean and biased variance, updating the
    running statistics with the unbiased one as ``BatchNorm2d`` does. With one process, or in eval mode,
    it is ``BatchNorm2d``. Parameter and buffer names are those of ``BatchNorm2d`` (checkpoints load into
    either).
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {x.dim()}-D")

    def forward(self, x):
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if not (self.training and distributed and torch.distributed.get_world_size() > 1):
            return super().forward(x)
        dims = [d for d in range(x.dim()) if d != 1]
        count = torch.full((1,), x.numel() / x.shape[1], dtype=torch.float64, device=x.device)
        local = torch.cat([x.double().sum(dims), x.double().pow(2).sum(dims), count])
        total = _SumOverProcesses.apply(local)
        c, n = x.shape[1], total[-1]
        mean = total[:c] / n
        var = total[c:2 * c] / n - mean ** 2
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * n / (n - 1))
        shape = [1, c] + [1] * (x.dim() - 2)
        out = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var + self.eps).to(x.dtype).view(shape)
        if self.weight is not None:
            out = out * self.weight.view(shape)
        return out if self.bias is None else out + self.bias.view(shape)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean.to(self.running_mean), factor)
        self.running_var.lerp_(unbiased_var.to(self.running_var), factor)


def sync_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every ``BatchNorm1d/2d/3d`` of ``model`` (in place) by :class:`CrossProcessBatchNorm`.

    Why: DDP computes BatchNorm statistics on each rank's share of the batch, so N processes would train
    another model than one process with the same global batch. Call it before ``accelerator.prepare``
    when ``num_processes > 1``. The new modules hold the very parameter and buffer tensors of the old
    ones, so an optimizer built before the call still updates them.
    """
    batchnorms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    for name, child in model.named_children():
        if isinstance(child, batchnorms) and not isinstance(child, CrossProcessBatchNorm):
            synced = CrossProcessBatchNorm(child.num_features, eps=child.eps, momentum=child.momentum,
                                           affine=child.affine, track_running_stats=child.track_running_stats,
                                           device="meta")
            for key in [*synced._parameters, *synced._buffers]:
                setattr(synced, key, getattr(child, key))
            synced.train(child.training)
            setattr(model, name, synced)
        else:
            sync_batchnorm(child)
    return model


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


def read_hyperparameters(folder: Path | str) -> dict:
    """The record a complete state folder was saved with (its ``hyperparameters.json``)."""
    return json.loads((Path(folder) / HYPERPARAMETERS_FILE).read_text())


def load_state(accelerator, folder: Path | str) -> dict:
    """``accelerator.load_state(folder)``; returns the hyper-parameters saved with it.

    Raises ValueError when the state was written by another number of processes: its scheduler has
    counted ``num_processes`` calls per step (:func:`warmup_cosine_schedule`), so resuming with a
    different count would put the learning rate at the wrong point of the schedule. Ranks other than
    the main one get the main process's RNG state (:func:`_restore_rng_of_main_process`).
    """
    folder = Path(folder)
    if not is_complete_state(folder):
        raise FileNotFoundError(f"{folder} is not a complete training state (no {HYPERPARAMETERS_FILE})")
    saved = read_hyperparameters(folder)
    if saved.get("num_processes", 1) != accelerator.num_processes:
        raise ValueError(f"{folder} was written by {saved['num_processes']} processes; resume it with the "
                         f"same number (now {accelerator.num_processes})")
    accelerator.load_state(str(folder))
    _restore_rng_of_main_process(folder, accelerator.process_index)
    return saved


def _restore_rng_of_main_process(folder: Path, process_index: int) -> None:
    """Give a rank whose RNG state was not saved the main process's state.

    :func:`save_state` runs on the main process only, so accelerate writes ``random_states_0.pkl`` alone
    and leaves the other ranks' generators where seeding put them. Every rank draws the same numbers
    (:func:`seed_everything`, then each keeps its share of identical global draws), so the main
    process's state is every rank's state.
    """
    import random

    from accelerate.utils.constants import RNG_STATE_NAME

    if (folder / f"{RNG_STATE_NAME}_{process_index}.pkl").exists():
        return
    main = folder / f"{RNG_STATE_NAME}_0.pkl"
    if not main.exists():
        return
    states = torch.load(main, weights_only=False)
    random.setstate(states["random_state"])
    np.random.set_state(states["numpy_random_seed"])
    torch.set_rng_state(states["torch_manual_seed"])
    if torch.cuda.is_available() and "torch_cuda_manual_seed" in states:
        torch.cuda.set_rng_state_all(states["torch_cuda_manual_seed"])
