"""The layout of a fine-tune's model folder, read and written by training and generation alike.

Why one module: the fine-tune writes the folder and generation, notebook 10's metrics and the
classifiers read it; each used to know part of the layout. ``out_dir`` holds

- ``checkpoint-{step}/``: ``unet/`` and ``text_encoder/`` (diffusers/transformers folders, through
  accelerate's save hooks), accelerate's optimizer/scheduler/RNG state, the EMA of the trained weights
  (diffusers' ``EMAModel`` state, written by accelerate as its first custom object) and
  ``hyperparameters.json`` (written last, so its presence marks a complete checkpoint);
- ``finetune.json``: the settings and the ``base`` pipeline the checkpoints apply to (relative to
  ``out_dir`` when inside it: the tiny profile's ``base/``), so a checkpoint reloads as a pipeline;
- ``train_log.csv`` (step, loss, lr) and, at the end, ``pipeline/``: a complete diffusers folder
  holding the EMA weights.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch

from raregal.core import training
from raregal.paper_b.diffusion.components import Components, load_components

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
RECORD_FILE = "finetune.json"
PIPELINE_DIR = "pipeline"
EMA_INDEX = 0  # the EMA is the first (only) object registered for checkpointing with accelerate
MODEL_FOLDERS = ("unet", "text_encoder")


# --------------------------------------------------------------------------------------------------
# Checkpoints: list, resolve, rotate, write
# --------------------------------------------------------------------------------------------------
def checkpoint_step(folder: Path | str) -> int:
    """The step of a ``checkpoint-{step}`` folder."""
    match = CHECKPOINT_RE.match(Path(folder).name)
    if match is None:
        raise ValueError(f"{folder} is not named checkpoint-<step>")
    return int(match.group(1))


def list_checkpoints(out_dir: Path | str) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every complete ``checkpoint-{step}/`` in ``out_dir``, oldest first."""
    out_dir = Path(out_dir)
    found = []
    if out_dir.is_dir():
        for p in out_dir.iterdir():
            if CHECKPOINT_RE.match(p.name) and p.is_dir() and training.is_complete_state(p):
                found.append((checkpoint_step(p), p))
    return sorted(found)


def resolve_checkpoint(out_dir: Path | str, resume: str | int | Path | None) -> Path | None:
    """``None`` → start fresh; ``"latest"`` → newest checkpoint (or fresh when none); a step or a path."""
    if resume is None:
        return None
    ckpts = list_checkpoints(out_dir)
    if resume == "latest":
        return ckpts[-1][1] if ckpts else None
    if isinstance(resume, int) or (isinstance(resume, str) and resume.isdigit()):
        match = [p for s, p in ckpts if s == int(resume)]
        if not match:
            raise FileNotFoundError(f"no checkpoint-{resume} in {out_dir}; have {[s for s, _ in ckpts]}")
        return match[0]
    path = Path(resume)
    if not training.is_complete_state(path):
        raise FileNotFoundError(f"{path} is not a complete fine-tune checkpoint "
                                f"(no {training.HYPERPARAMETERS_FILE})")
    return path


def rotate_checkpoints(out_dir: Path, limit: int | None) -> list[int]:
    """Delete the oldest checkpoints beyond ``limit``; returns the steps removed."""
    ckpts = list_checkpoints(out_dir)
    if limit is None or len(ckpts) <= limit:
        return []
    removed = ckpts[: len(ckpts) - limit]
    for _, p in removed:
        shutil.rmtree(p)
    return [s for s, _ in removed]


def save_checkpoint(acc, out_dir: Path, step: int, limit: int | None, hyperparameters: dict) -> Path:
    """``checkpoint-{step}/`` written atomically (core.training.save_state), then rotation to ``limit``."""
    folder = training.save_state(acc, Path(out_dir) / f"checkpoint-{step}", {**hyperparameters, "step": step})
    rotate_checkpoints(Path(out_dir), limit)
    return folder


def register_model_folders(acc) -> None:
    """Make ``acc.save_state``/``load_state`` keep the trained models as ``unet/`` and ``text_encoder/``
    diffusers/transformers folders (loadable with ``from_pretrained``) instead of accelerate's files."""
    from safetensors.torch import load_file

    def subfolder(model) -> str:
        return "unet" if type(acc.unwrap_model(model)).__name__.startswith("UNet") else "text_encoder"

    def save_hook(models, weights, output_dir):
        for model in models:
            acc.unwrap_model(model).save_pretrained(Path(output_dir) / subfolder(model),
                                                    safe_serialization=True)
        weights.clear()  # written above; accelerate must not write model.safetensors as well

    def load_hook(models, input_dir):
        while models:
            model = models.pop()
            folder = Path(input_dir) / subfolder(model)
            files = sorted(folder.glob("*.safetensors"))
            if not files:
                raise FileNotFoundError(f"checkpoint {input_dir} lacks {folder.name}/ weights")
            state = {}
            for f in files:
                state.update(load_file(str(f)))
            acc.unwrap_model(model).load_state_dict(state)

    acc.register_save_state_pre_hook(save_hook)
    acc.register_load_state_pre_hook(load_hook)


# --------------------------------------------------------------------------------------------------
# EMA weights (diffusers' EMAModel; its state travels with accelerate's save_state/load_state)
# --------------------------------------------------------------------------------------------------
def new_ema(parameters, decay: float):
    """An ``EMAModel`` of the trained parameters with EMA warm-up (the decay ramps up from 0 to ``decay``)."""
    from diffusers.training_utils import EMAModel

    return EMAModel(list(parameters), decay=decay, use_ema_warmup=True)


def read_ema(folder: Path | str, parameters):
    """The ``EMAModel`` saved in checkpoint ``folder`` for ``parameters`` (the trained models' parameters,
    UNet first, in the order the fine-tune tracked them).

    Readers (notebooks 10–12) run without an ``Accelerator``; accelerate's loader logs through its
    state, so the process-wide ``PartialState`` is made first (a no-op when training made it).
    """
    from accelerate import PartialState
    from accelerate.checkpointing import load_custom_state

    PartialState()
    parameters = list(parameters)
    ema = new_ema(parameters, decay=0.0)
    load_custom_state(ema, str(folder), EMA_INDEX)
    if len(ema.shadow_params) != len(parameters):
        raise ValueError(f"{folder}: EMA has {len(ema.shadow_params)} tensors, models have {len(parameters)}")
    return ema


def export_pipeline(out_dir: Path, comps: Components, ema, params) -> Path:
    """``pipeline/``: ``comps`` (unwrapped models) with the EMA weights swapped in, then the trained
    weights restored; written under a temporary name and renamed."""
    ema.store(params)
    ema.copy_to(params)
    try:
        target = Path(out_dir) / PIPELINE_DIR
        tmp = Path(out_dir) / f".{PIPELINE_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        comps.save(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        ema.restore(params)
    return target


# --------------------------------------------------------------------------------------------------
# The run record and the base pipeline
# --------------------------------------------------------------------------------------------------
def portable_base(base: str | Path, out_dir: Path | str) -> str:
    """``base`` as written to finetune.json: relative to ``out_dir`` when it lies inside it (the tiny
    pipeline's ``base/``), so a moved or copied repository still finds it; else as given (hub id, path)."""
    try:
        return Path(base).resolve().relative_to(Path(out_dir).resolve()).as_posix()
    except ValueError:
        return str(base)


def write_record(out_dir: Path | str, base: str | Path, **fields) -> dict:
    """Write ``finetune.json``: the (portable) base pipeline and ``fields`` (settings, peak lr, ...)."""
    record = {"base": portable_base(base, out_dir), **fields}
    (Path(out_dir) / RECORD_FILE).write_text(json.dumps(record, indent=1, default=str))
    return record


def read_record(out_dir: Path | str) -> dict:
    """``finetune.json`` of the fine-tune in ``out_dir``."""
    return json.loads((Path(out_dir) / RECORD_FILE).read_text())


def base_of(out_dir: Path | str) -> str:
    """The base pipeline a fine-tune in ``out_dir`` started from (a folder or hub id for load_components)."""
    out_dir = Path(out_dir)
    base = read_record(out_dir)["base"]
    inside = out_dir / base
    return str(inside) if not Path(base).is_absolute() and (inside / "model_index.json").exists() else base


def components_at(out_dir: Path | str, step: int | str | None = None, use_ema: bool = True) -> Components:
    """Components of a fine-tune at ``checkpoint-{step}`` (``"latest"``), or the final ``pipeline/``
    when ``step`` is None; ``use_ema`` swaps in the EMA weights (what ``pipeline/`` holds)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    out_dir = Path(out_dir)
    if step is None:
        from raregal.core.config import require

        return load_components(require(out_dir / PIPELINE_DIR, made_by="08_finetune_diffusion"))
    ckpt = resolve_checkpoint(out_dir, step)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoints in {out_dir}")
    comps = load_components(base_of(out_dir))
    comps.unet = UNet2DConditionModel.from_pretrained(ckpt / "unet")
    trained = [comps.unet]
    if (ckpt / "text_encoder").is_dir():
        comps.text_encoder = CLIPTextModel.from_pretrained(ckpt / "text_encoder")
        trained.append(comps.text_encoder)
    if use_ema:
        params = [p for m in trained for p in m.parameters()]
        with torch.no_grad():
            read_ema(ckpt, params).copy_to(params)
    comps.info = {**comps.info, "checkpoint_step": checkpoint_step(ckpt), "use_ema": use_ema}
    return comps
