"""Fine-tune the text-conditioned diffusion model on (tag prompt, galaxy image) pairs — seed 004 §2, §3.1.

One accelerate loop, split into small functions: the UNet and the text encoder are both trained (the
paper fine-tunes every parameter), the VAE is frozen and its latents cached, the loss is the ε-prediction
MSE, AdamW (weight decay 1e-3) with a one-cycle schedule (warm-up then cosine decay) whose peak is
``lr_per_sample × batch × processes``, gradients clipped at 1.0, an EMA of the trained weights.
Tag order is shuffled per sample. Every random draw of step ``s`` comes from generators seeded by
``(seed, s)``, so a run resumed from ``checkpoint-{s}/`` continues exactly as the uninterrupted run would.

Layout of ``out_dir``: ``checkpoint-{step}/`` (``unet/``, ``text_encoder/`` as diffusers/transformers
folders, ``ema.safetensors``, accelerate's optimizer/scheduler/RNG state), ``train_log.csv`` (step, loss,
lr), ``finetune.json`` (settings and the base pipeline) and, at the end, ``pipeline/``: a complete
diffusers folder holding the EMA weights.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from raregal.paper_b.diffusion.components import Components, load_components

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
EMA_FILE = "ema.safetensors"
EMA_STATE = "ema.json"


@dataclass(frozen=True)
class FinetuneSettings:
    """Hyper-parameters of one fine-tune (the profile gives them; seed 004 values in comments)."""

    steps: int  # 10,000
    batch_size: int = 16  # 16
    lr_per_sample: float = 1e-7  # peak lr = lr_per_sample × batch × processes (1.6e-6)
    warmup_steps: int = 400  # 400 of 10,000
    weight_decay: float = 1e-3
    max_grad_norm: float = 1.0
    ema_decay: float = 0.9999  # upper bound; EMA warm-up ramps the decay from 0
    checkpoint_every: int = 1000
    checkpoints_total_limit: int | None = None  # None keeps every checkpoint (notebook 10 reads them)
    uncond_prob: float = 0.0  # caption dropout; a from-scratch model needs it for guidance to work
    tag_balance: float = 0.0  # 0: uniform draws (paper); α > 0: images weigh (1/count of rarest tag)^α
    snr_gamma: float | None = None  # None: plain ε-MSE (paper); γ: min-SNR-γ weights (Hang et al. 2023)
    train_text_encoder: bool = True
    mixed_precision: str = "auto"  # auto → fp16 on CUDA, no on CPU
    gradient_checkpointing: str = "auto"  # auto → on for CUDA
    seed: int = 114514

    def __post_init__(self):
        problems = []
        if self.steps < 1:
            problems.append(f"steps={self.steps} must be ≥ 1")
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} must be ≥ 1")
        if not self.lr_per_sample > 0:
            problems.append(f"lr_per_sample={self.lr_per_sample} must be > 0")
        if self.checkpoint_every < 1:
            problems.append(f"checkpoint_every={self.checkpoint_every} must be ≥ 1")
        if self.checkpoints_total_limit is not None and self.checkpoints_total_limit < 1:
            problems.append("checkpoints_total_limit must be ≥ 1 or None")
        if not self.tag_balance >= 0:
            problems.append(f"tag_balance={self.tag_balance} must be ≥ 0")
        if self.snr_gamma is not None and not self.snr_gamma > 0:
            problems.append(f"snr_gamma={self.snr_gamma} must be > 0 or None")
        if not 0 <= self.uncond_prob < 1:
            problems.append(f"uncond_prob={self.uncond_prob} must be in [0, 1)")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            problems.append(f"mixed_precision={self.mixed_precision!r}: use auto, no, fp16 or bf16")
        if problems:
            raise ValueError("invalid fine-tune settings: " + "; ".join(problems))


@dataclass
class TrainingSet:
    """Cached VAE latents (N, 2, C, h, w: posterior mean and std) and each image's tag phrases."""

    latents: torch.Tensor
    tags: list[list[str]]
    ids: list
    _weights: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if self.latents.ndim != 5 or self.latents.shape[1] != 2:
            raise ValueError(f"latents must be (N, 2, C, h, w), got {tuple(self.latents.shape)}")
        if not (len(self.latents) == len(self.tags) == len(self.ids)):
            raise ValueError(f"latents ({len(self.latents)}), tags ({len(self.tags)}) and ids "
                             f"({len(self.ids)}) must have one row per image")
        empty = [i for i, t in zip(self.ids, self.tags) if not t]
        if empty:
            raise ValueError(f"{len(empty)} training images have no tags (first: {empty[:5]}); "
                             "drop them (and count them) before building the training set")

    def sampling_weights(self, tag_balance: float) -> np.ndarray | None:
        """Draw probabilities that favour images carrying rare tags: each image weighs
        (1 / count of its rarest tag) ** ``tag_balance``; 0 → None (uniform, as in the paper)."""
        if tag_balance == 0:
            return None
        if tag_balance not in self._weights:
            counts = Counter(t for tags in self.tags for t in set(tags))
            w = np.array([min(counts[t] for t in tags) for tags in self.tags], float) ** -float(tag_balance)
            self._weights[tag_balance] = w / w.sum()
        return self._weights[tag_balance]


def shuffled_caption(tags: Sequence[str], rng: np.random.Generator) -> str:
    """Seed 004: tags are shuffled per sample so the model learns each phrase, not one word order."""
    order = rng.permutation(len(tags))
    return ", ".join(tags[i] for i in order)


def peak_lr(settings: FinetuneSettings, num_processes: int = 1) -> float:
    return settings.lr_per_sample * settings.batch_size * num_processes


def step_rngs(seed: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch generators of one step: a resumed run draws exactly what a straight run draws."""
    rng = np.random.default_rng([seed, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return rng, gen


def draw_batch(data: TrainingSet, step: int, settings: FinetuneSettings,
               caption_fn: Callable[[Sequence[str], np.random.Generator], str] = shuffled_caption):
    """Indices, sampled latents (mean + std·ε of the cached posterior) and captions of step ``step``."""
    rng, gen = step_rngs(settings.seed, step)
    idx = rng.choice(len(data.latents), size=min(settings.batch_size, len(data.latents)), replace=False,
                     p=data.sampling_weights(settings.tag_balance))
    cached = data.latents[torch.as_tensor(idx)]
    latents = cached[:, 0] + cached[:, 1] * torch.randn(cached[:, 0].shape, generator=gen)
    drop = rng.random(len(idx)) < settings.uncond_prob
    captions = ["" if d else caption_fn(data.tags[i], rng) for i, d in zip(idx, drop)]
    return idx, latents, captions, gen


def one_cycle(opt, warmup_steps: int, total_steps: int):
    """One cycle: linear warm-up to the peak lr, then cosine decay to 0 at ``total_steps``."""
    from diffusers.optimization import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(opt, num_warmup_steps=min(warmup_steps, total_steps - 1),
                                           num_training_steps=total_steps)


def tokenize(tokenizer, captions: Sequence[str]) -> torch.Tensor:
    return tokenizer(list(captions), padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt").input_ids


def min_snr_weights(noise_scheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample ε-loss weights min(SNR(t), γ) / SNR(t) (Hang et al. 2023, diffusers' ``--snr_gamma``):
    the many nearly noise-free timesteps, whose ε is easy and says little about shapes, stop dominating
    the gradient. A from-scratch model learns global structure several times faster this way."""
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_scheduler, t)
    return torch.clamp(snr, max=gamma) / snr


def epsilon_loss(unet, text_encoder, noise_scheduler, latents: torch.Tensor, input_ids: torch.Tensor,
                 gen: torch.Generator, snr_gamma: float | None = None) -> torch.Tensor:
    """ε-prediction MSE at uniformly drawn timesteps (DDPM forward process of the noise scheduler);
    with ``snr_gamma`` each sample's MSE is weighted by :func:`min_snr_weights`."""
    noise = torch.randn(latents.shape, generator=gen).to(latents.device)
    t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(latents),), generator=gen)
    t = t.to(latents.device)
    noisy = noise_scheduler.add_noise(latents, noise, t)
    encoder_hidden_states = text_encoder(input_ids.to(latents.device))[0]
    pred = unet(noisy, t, encoder_hidden_states).sample
    if snr_gamma is None:
        return F.mse_loss(pred.float(), noise.float())
    per_sample = F.mse_loss(pred.float(), noise.float(), reduction="none").mean(dim=(1, 2, 3))
    return (per_sample * min_snr_weights(noise_scheduler, t, snr_gamma).to(per_sample)).mean()


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def list_checkpoints(out_dir: Path | str) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every complete ``checkpoint-{step}/`` in ``out_dir``, oldest first."""
    out_dir = Path(out_dir)
    found = []
    if out_dir.is_dir():
        for p in out_dir.iterdir():
            m = CHECKPOINT_RE.match(p.name)
            if m and p.is_dir() and (p / EMA_STATE).exists():
                found.append((int(m.group(1)), p))
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
    if not (path / EMA_STATE).exists():
        raise FileNotFoundError(f"{path} is not a complete fine-tune checkpoint (no {EMA_STATE})")
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


def save_ema(ema, folder: Path) -> None:
    from safetensors.torch import save_file

    state = ema.state_dict()
    shadow = state.pop("shadow_params")
    save_file({f"p{i:05d}": t.detach().cpu().contiguous() for i, t in enumerate(shadow)},
              str(folder / EMA_FILE))
    (folder / EMA_STATE).write_text(json.dumps(state, indent=1, default=float))


def load_ema_state(folder: Path) -> dict:
    from safetensors.torch import load_file

    tensors = load_file(str(Path(folder) / EMA_FILE))
    state = json.loads((Path(folder) / EMA_STATE).read_text())
    state["shadow_params"] = [tensors[k] for k in sorted(tensors)]
    return state


def _trained_models(comps: Components, settings: FinetuneSettings) -> list:
    return [comps.unet, comps.text_encoder] if settings.train_text_encoder else [comps.unet]


def make_accelerator(out_dir: Path, settings: FinetuneSettings):
    """An Accelerator whose save/load_state writes the trained models as diffusers/transformers folders."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    mp = settings.mixed_precision
    if mp == "auto":
        mp = "fp16" if torch.cuda.is_available() else "no"
    acc = Accelerator(mixed_precision=mp, project_config=ProjectConfiguration(project_dir=str(out_dir)))

    def subfolder(model) -> str:
        return "unet" if type(acc.unwrap_model(model)).__name__.startswith("UNet") else "text_encoder"

    def save_hook(models, weights, output_dir):
        for model in models:
            acc.unwrap_model(model).save_pretrained(Path(output_dir) / subfolder(model),
                                                    safe_serialization=True)
        weights.clear()  # written above; accelerate must not write model.safetensors as well

    def load_hook(models, input_dir):
        from safetensors.torch import load_file

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
    return acc


def save_checkpoint(acc, ema, out_dir: Path, step: int, limit: int | None) -> Path:
    """Write ``checkpoint-{step}/`` under a temporary name, then rename: a crash never leaves half of one."""
    final = out_dir / f"checkpoint-{step}"
    tmp = out_dir / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    acc.save_state(str(tmp))
    save_ema(ema, tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    rotate_checkpoints(out_dir, limit)
    return final


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------
def _write_log(rows: list[dict], path: Path) -> None:
    from raregal.core.outputs import atomic_path

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=["step", "loss", "lr"]).to_csv(tmp, index=False)


def _read_log(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    df = pd.read_csv(path)
    return df[df["step"] <= upto].to_dict("records")


def _portable_base(base: str | Path, out_dir: Path) -> str:
    """``base`` as written to finetune.json: relative to ``out_dir`` when it lies inside it (the tiny
    pipeline's ``base/``), so a moved or copied repository still finds it; else as given (hub id, path)."""
    try:
        return Path(base).resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return str(base)


def base_of(out_dir: Path | str) -> str:
    """The base pipeline a fine-tune in ``out_dir`` started from (a folder or hub id for load_components)."""
    out_dir = Path(out_dir)
    base = json.loads((out_dir / "finetune.json").read_text())["base"]
    inside = out_dir / base
    return str(inside) if not Path(base).is_absolute() and (inside / "model_index.json").exists() else base


def finetune(comps: Components, data: TrainingSet, settings: FinetuneSettings, out_dir: Path | str,
             base: str | Path, resume: str | int | Path | None = "latest",
             caption_fn: Callable = shuffled_caption, progress: bool = True) -> dict:
    """Train ``comps.unet`` (+ text encoder) on ``data``; checkpoints, log and final ``pipeline/`` in
    ``out_dir``. ``base`` names the pipeline the components came from (recorded so checkpoints reload).
    Returns a summary (steps run, resumed-from step, final loss, peak lr, parameter counts)."""
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    latent_size = int(data.latents.shape[-1])
    if comps.unet.config.sample_size != latent_size:
        # SD-1.5 says 64 (512 px); the pipelines' default image size is this value × 8, so a fine-tune at
        # 424 px must say 53 or every generated image comes out at 512 px
        comps.unet.register_to_config(sample_size=latent_size)
    acc = make_accelerator(out_dir, settings)
    torch.manual_seed(settings.seed)

    comps.vae.requires_grad_(False)
    models = _trained_models(comps, settings)
    if not settings.train_text_encoder:
        comps.text_encoder.requires_grad_(False)
    on_cuda = acc.device.type == "cuda"
    if settings.gradient_checkpointing == "on" or (settings.gradient_checkpointing == "auto" and on_cuda):
        comps.unet.enable_gradient_checkpointing()
        if settings.train_text_encoder:
            comps.text_encoder.gradient_checkpointing_enable()
    for m in models:
        m.requires_grad_(True)
        m.train()
    params = [p for m in models for p in m.parameters()]
    lr = peak_lr(settings, acc.num_processes)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay)
    sched = one_cycle(opt, settings.warmup_steps, settings.steps)
    prepared = acc.prepare(*models, opt, sched)
    models, opt, sched = list(prepared[:-2]), prepared[-2], prepared[-1]
    unet = models[0]
    text_encoder = models[1] if settings.train_text_encoder else comps.text_encoder.to(acc.device)
    ema = EMAModel([p for m in models for p in acc.unwrap_model(m).parameters()],
                   decay=settings.ema_decay, use_ema_warmup=True)
    ema.to(acc.device)

    meta = {"base": _portable_base(base, out_dir), "settings": asdict(settings), "peak_lr": lr,
            "n_train": len(data.latents), "info": comps.info}
    (out_dir / "finetune.json").write_text(json.dumps(meta, indent=1, default=str))

    start = 0
    ckpt = resolve_checkpoint(out_dir, resume)
    if ckpt is not None:
        acc.load_state(str(ckpt))
        ema.load_state_dict(load_ema_state(ckpt))
        ema.to(acc.device)
        start = int(CHECKPOINT_RE.match(ckpt.name).group(1))
    log_path = out_dir / "train_log.csv"
    log = _read_log(log_path, start) if start else []

    bar = tqdm(range(start, settings.steps), desc="fine-tune", disable=not progress,
               initial=start, total=settings.steps)
    for step in bar:
        _, latents, captions, gen = draw_batch(data, step, settings, caption_fn)
        ids = tokenize(comps.tokenizer, captions)
        with acc.autocast():
            loss = epsilon_loss(unet, text_encoder, comps.noise_scheduler, latents.to(acc.device),
                                ids, gen, settings.snr_gamma)
        acc.backward(loss)
        if acc.sync_gradients:
            acc.clip_grad_norm_(params, settings.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if acc.sync_gradients:
            ema.step([p for m in models for p in acc.unwrap_model(m).parameters()])
        done = step + 1
        log.append({"step": done, "loss": float(loss.detach()), "lr": sched.get_last_lr()[0]})
        bar.set_postfix(loss=f"{log[-1]['loss']:.4f}")
        if acc.is_main_process and (done % settings.checkpoint_every == 0 or done == settings.steps):
            save_checkpoint(acc, ema, out_dir, done, settings.checkpoints_total_limit)
            _write_log(log, log_path)
    if acc.is_main_process:
        _write_log(log, log_path)
        export_pipeline(out_dir, comps, ema, models, acc)
    acc.end_training()
    recent = [r["loss"] for r in log[-max(1, len(log) // 10):]]
    return {"steps": settings.steps, "resumed_from": start, "steps_run": settings.steps - start,
            "final_loss": float(np.mean(recent)) if recent else math.nan, "peak_lr": lr,
            "n_params": comps.info.get("n_params"), "out_dir": str(out_dir)}


def export_pipeline(out_dir: Path, comps: Components, ema, models, acc) -> Path:
    """``pipeline/``: the base components with the EMA weights swapped in (the trained weights restored)."""
    params = [p for m in models for p in acc.unwrap_model(m).parameters()]
    ema.store(params)
    ema.copy_to(params)
    try:
        target = out_dir / "pipeline"
        tmp = out_dir / ".pipeline.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        Components(unet=acc.unwrap_model(comps.unet), vae=comps.vae,
                   text_encoder=acc.unwrap_model(comps.text_encoder), tokenizer=comps.tokenizer,
                   noise_scheduler=comps.noise_scheduler, info=comps.info).save(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        ema.restore(params)
    return target


def components_at(out_dir: Path | str, step: int | str | None = None, use_ema: bool = True) -> Components:
    """Components of a fine-tune at ``checkpoint-{step}`` (``"latest"``), or the final ``pipeline/``
    when ``step`` is None; ``use_ema`` swaps in the EMA weights (what ``pipeline/`` holds)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    out_dir = Path(out_dir)
    if step is None:
        from raregal.core.config import require

        return load_components(require(out_dir / "pipeline", made_by="08_finetune_diffusion"))
    ckpt = resolve_checkpoint(out_dir, step)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoints in {out_dir}")
    comps = load_components(base_of(out_dir))
    comps.unet = UNet2DConditionModel.from_pretrained(ckpt / "unet")
    if (ckpt / "text_encoder").is_dir():
        comps.text_encoder = CLIPTextModel.from_pretrained(ckpt / "text_encoder")
    if use_ema:
        trained = [comps.unet] + ([comps.text_encoder] if (ckpt / "text_encoder").is_dir() else [])
        params = [p for m in trained for p in m.parameters()]
        shadow = load_ema_state(ckpt)["shadow_params"]
        if len(shadow) != len(params):
            raise ValueError(f"{ckpt}: EMA has {len(shadow)} tensors, models have {len(params)}")
        with torch.no_grad():
            for p, s in zip(params, shadow):
                p.copy_(s.to(p.dtype))
    comps.info = {**comps.info, "checkpoint_step": int(CHECKPOINT_RE.match(ckpt.name).group(1)),
                  "use_ema": use_ema}
    return comps


# --------------------------------------------------------------------------------------------------
# From the GZ2 tag table to a training set (notebook 08)
# --------------------------------------------------------------------------------------------------
def tag_caption(tags: Sequence[str], rng: np.random.Generator) -> str:
    """Training caption of a galaxy: its tag phrases in a fresh random order (gz2_labels wording)."""
    from raregal.paper_b.labels import prompt_from_tags

    return prompt_from_tags(tags, rng)


def training_rows(tag_table: pd.DataFrame, max_images: int | None = None,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of ``tags.parquet`` with ``in_diffusion_train`` (optionally a seeded subsample) and a drop
    table (id, reason) of flagged rows that cannot be used (no tags)."""
    missing = {"dr7objid", "tags", "in_diffusion_train"} - set(tag_table.columns)
    if missing:
        raise ValueError(f"tag table lacks columns {sorted(missing)} (contract: CONTRIBUTING.md)")
    rows = tag_table[tag_table["in_diffusion_train"].astype(bool)]
    empty = rows["tags"].fillna("").str.len() == 0
    drops = pd.DataFrame({"id": rows.loc[empty, "dr7objid"], "reason": "no tags"})
    rows = rows[~empty]
    if max_images is not None and len(rows) > max_images:
        rows = rows.sample(n=max_images, random_state=seed).sort_index()
    return rows.reset_index(drop=True), drops


def load_training_images(tag_table: pd.DataFrame, image_folder: Path | str, resolution: int,
                         max_images: int | None = None, seed: int = 0):
    """uint8 images (N, R, R, 3), ids, tag lists and the drop table (no tags, missing/unreadable file)."""
    from raregal.core.images import read_images

    rows, drops = training_rows(tag_table, max_images, seed)
    batch = read_images(image_folder, rows["dr7objid"].tolist(), size=resolution)
    kept = rows.set_index("dr7objid").loc[batch.ids]
    tags = [t.split("|") for t in kept["tags"]]
    all_drops = pd.concat([drops, batch.drops], ignore_index=True)
    if len(batch.ids) == 0:
        raise ValueError(f"no training image could be read from {image_folder} "
                         f"({len(all_drops)} dropped: {all_drops.reason.value_counts().to_dict()})")
    return batch.images, list(batch.ids), tags, all_drops


def settings_from_profile(section) -> FinetuneSettings:
    """FinetuneSettings from the ``diffusion`` config section (a namespace or dict)."""
    values = vars(section) if not isinstance(section, dict) else section
    names = FinetuneSettings.__dataclass_fields__
    return FinetuneSettings(**{k: v for k, v in values.items() if k in names})


def base_components(model_dir: Path, values: dict, images: np.ndarray, corpus: Sequence[str], seed: int = 0,
                    progress: bool = True, info: dict | None = None) -> tuple[Components, str | Path]:
    """The pipeline a fine-tune starts from and its name: tiny → ``model_dir/base`` (loaded when it exists,
    else built and its VAE pre-trained on ``images``, VAE losses into ``info``, and saved); otherwise the
    ``pretrained`` hub id or folder."""
    from raregal.paper_b.diffusion.components import build_tiny, pretrain_vae, spec_from_profile

    if values["pretrained"] != "tiny":
        return load_components(values["pretrained"]), values["pretrained"]
    base = Path(model_dir) / "base"
    if (base / "model_index.json").exists():
        return load_components(base), base
    comps = build_tiny(corpus, spec_from_profile(values), seed=seed)
    losses = pretrain_vae(comps.vae, images, steps=values["vae_steps"], batch_size=values["vae_batch_size"],
                          lr=values["vae_lr"], seed=seed, progress=progress)
    if info is not None:
        info["vae_losses"] = losses
    comps.save(base)
    return comps, base


def train_pipeline(model_dir: Path | str, images: np.ndarray, tags: list[list[str]], ids: list,
                   section, corpus: Sequence[str], seed: int = 0, retrain: bool = False,
                   progress: bool = True) -> dict:
    """Notebook 08's whole fine-tune: base components (tiny: build + pre-train the VAE, saved as
    ``base/``; else the ``pretrained`` pipeline), cached latents, :func:`finetune` resumed from the
    latest checkpoint. A finished run with the same settings is loaded, not retrained."""
    import time

    from raregal.paper_b.diffusion.components import encode_latents, reconstruction_error

    model_dir = Path(model_dir)
    values = vars(section) if not isinstance(section, dict) else dict(section)
    settings = replace(settings_from_profile(values), seed=seed)
    if retrain and model_dir.exists():
        shutil.rmtree(model_dir)
    meta_path = model_dir / "finetune.json"
    if (model_dir / "pipeline" / "model_index.json").exists() and meta_path.exists():
        done = json.loads(meta_path.read_text())
        if done["settings"] != json.loads(json.dumps(asdict(settings))):
            raise ValueError(f"{model_dir} holds a fine-tune with other settings "
                             f"({done['settings']}); rerun with retrain=True to replace it")
        return {**done, "loaded": True}
    t0 = time.perf_counter()
    info: dict = {"loaded": False}
    comps, base = base_components(model_dir, values, images, corpus, seed, progress, info)
    info["vae_reconstruction_error"] = reconstruction_error(comps.vae, images)
    info["prepare_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    data = TrainingSet(encode_latents(comps.vae, images), tags, ids)
    info["latents_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    summary = finetune(comps, data, settings, model_dir, base=base, caption_fn=tag_caption,
                       progress=progress)
    info["train_s"] = time.perf_counter() - t2
    return {**summary, **info}
