"""Fine-tune the text-conditioned diffusion model on (tag prompt, galaxy image) pairs.

Ma et al. 2025 §2 and Appendix C.

One accelerate loop, split into small steps: the UNet and the text encoder are both trained (the
paper fine-tunes every parameter), the VAE is frozen and its latents cached, the loss is the ε-prediction
MSE, AdamW (weight decay 1e-3) with a one-cycle schedule (warm-up then cosine decay) whose peak is
``lr_per_sample × batch``, gradients clipped at 1.0, an EMA of the trained weights (diffusers'
``EMAModel``). Tag order is shuffled per sample. Every random draw of step ``s`` (images, latent
samples, captions, noise, timesteps) comes from generators seeded by ``(seed, s)``, so a run resumed
from ``checkpoint-{s}/`` continues exactly as the uninterrupted run would.

Several processes (``accelerate launch``): ``batch_size`` is the global batch; every rank draws it
the same way and trains on its own shard, and the schedule counts accelerate's per-process scheduler
calls (``core.training``), so N processes follow the curve of one process with the same batch.
The model folder's layout is ``checkpoints``'s concern.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from raregal.core import training
from raregal.paper_b.diffusion import checkpoints
from raregal.paper_b.diffusion.components import Components, load_components
from raregal.paper_b.diffusion.training_pairs import TrainingSet, draw_batch, shuffled_caption, tag_caption


@dataclass(frozen=True)
class FinetuneSettings:
    """Hyper-parameters of one fine-tune (the profile gives them; Ma et al. 2025 values in comments)."""

    steps: int  # 10,000
    batch_size: int = 16  # 16; the global batch, split over the processes
    lr_per_sample: float = 1e-7  # peak lr = lr_per_sample × global batch (1.6e-6)
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


def settings_from_profile(section) -> FinetuneSettings:
    """FinetuneSettings from the ``diffusion`` config section (a namespace or dict)."""
    values = vars(section) if not isinstance(section, dict) else section
    names = FinetuneSettings.__dataclass_fields__
    return FinetuneSettings(**{k: v for k, v in values.items() if k in names})


def peak_lr(settings: FinetuneSettings) -> float:
    """Peak learning rate: ``lr_per_sample`` × the global batch, whatever the number of processes."""
    return settings.lr_per_sample * settings.batch_size


# --------------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------------
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
                 noise: torch.Tensor, timesteps: torch.Tensor,
                 snr_gamma: float | None = None) -> torch.Tensor:
    """ε-prediction MSE of ``latents`` noised with ``noise`` at ``timesteps`` (DDPM forward process of
    the noise scheduler); with ``snr_gamma`` each sample's MSE is weighted by :func:`min_snr_weights`."""
    noise = noise.to(latents.device)
    t = timesteps.to(latents.device)
    noisy = noise_scheduler.add_noise(latents, noise, t)
    encoder_hidden_states = text_encoder(input_ids.to(latents.device))[0]
    pred = unet(noisy, t, encoder_hidden_states).sample
    if snr_gamma is None:
        return F.mse_loss(pred.float(), noise.float())
    per_sample = F.mse_loss(pred.float(), noise.float(), reduction="none").mean(dim=(1, 2, 3))
    return (per_sample * min_snr_weights(noise_scheduler, t, snr_gamma).to(per_sample)).mean()


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """What the loop's steps share: the accelerator, the prepared models, optimizer, scheduler, EMA."""

    acc: object
    comps: Components
    settings: FinetuneSettings
    models: list  # prepared trained models, UNet first
    text_encoder: torch.nn.Module  # prepared when trained, else the frozen one on the device
    optimizer: object
    scheduler: object
    ema: object

    @property
    def params(self) -> list:
        """The trained parameters (UNet first): what the optimizer, clipping and EMA see."""
        return [p for m in self.models for p in self.acc.unwrap_model(m).parameters()]


def make_accelerator(out_dir: Path, settings: FinetuneSettings):
    """An Accelerator (fp16 on CUDA for ``auto``) whose save/load_state writes the trained models as
    diffusers/transformers folders (checkpoints.register_model_folders)."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    mp = settings.mixed_precision
    if mp == "auto":
        mp = "fp16" if torch.cuda.is_available() else "no"
    acc = Accelerator(mixed_precision=mp, project_config=ProjectConfiguration(project_dir=str(out_dir)))
    checkpoints.register_model_folders(acc)
    return acc


def prepare_run(comps: Components, settings: FinetuneSettings, acc) -> Run:
    """Freeze the VAE (and the text encoder unless trained), optionally checkpoint activations, build
    AdamW and the process-scaled one-cycle schedule, prepare them, and start the EMA."""
    comps.vae.requires_grad_(False)
    models = [comps.unet, comps.text_encoder] if settings.train_text_encoder else [comps.unet]
    if not settings.train_text_encoder:
        comps.text_encoder.requires_grad_(False)
    if settings.gradient_checkpointing == "on" or (settings.gradient_checkpointing == "auto"
                                                   and acc.device.type == "cuda"):
        comps.unet.enable_gradient_checkpointing()
        if settings.train_text_encoder:
            comps.text_encoder.gradient_checkpointing_enable()
    for m in models:
        m.requires_grad_(True)
        m.train()
    opt = torch.optim.AdamW([p for m in models for p in m.parameters()], lr=peak_lr(settings),
                            weight_decay=settings.weight_decay)
    sched = training.warmup_cosine_schedule(opt, settings.warmup_steps, settings.steps, acc.num_processes)
    *models, opt, sched = acc.prepare(*models, opt, sched)
    text_encoder = models[1] if settings.train_text_encoder else comps.text_encoder.to(acc.device)
    run = Run(acc, comps, settings, models, text_encoder, opt, sched, ema=None)
    run.ema = checkpoints.new_ema(run.params, settings.ema_decay)
    run.ema.to(acc.device)
    acc.register_for_checkpointing(run.ema)  # saved and loaded with the state (checkpoints.EMA_INDEX)
    return run


def train_step(run: Run, data: TrainingSet, step: int, caption_fn: Callable) -> dict:
    """One optimizer step on this rank's shard of step ``step``'s global batch; returns the log row
    (the loss averaged over the ranks = the global-batch loss, and the lr after the step)."""
    acc, settings = run.acc, run.settings
    batch = draw_batch(data, step, settings, caption_fn, run.comps.noise_scheduler.config.num_train_timesteps)
    batch = batch.shard(acc)
    ids = tokenize(run.comps.tokenizer, batch.captions)
    with acc.autocast():
        loss = epsilon_loss(run.models[0], run.text_encoder, run.comps.noise_scheduler,
                            batch.latents.to(acc.device), ids, batch.noise, batch.timesteps,
                            settings.snr_gamma)
    acc.backward(loss)
    if acc.sync_gradients:
        acc.clip_grad_norm_(run.params, settings.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    if acc.sync_gradients:
        run.ema.step(run.params)
    return {"step": step + 1, "loss": training.mean_over_processes(acc, loss),
            "lr": run.scheduler.get_last_lr()[0]}


def _write_log(rows: list[dict], path: Path) -> None:
    from raregal.core.outputs import atomic_path

    with atomic_path(path) as tmp:
        pd.DataFrame(rows, columns=["step", "loss", "lr"]).to_csv(tmp, index=False)


def _read_log(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    df = pd.read_csv(path)
    return df[df["step"] <= upto].to_dict("records")


def finetune(comps: Components, data: TrainingSet, settings: FinetuneSettings, out_dir: Path | str,
             base: str | Path, resume: str | int | Path | None = "latest",
             caption_fn: Callable = shuffled_caption, progress: bool = True) -> dict:
    """Train ``comps.unet`` (+ text encoder) on ``data``; checkpoints, log and final ``pipeline/`` in
    ``out_dir``. ``base`` names the pipeline the components came from (recorded so checkpoints reload).
    Returns a summary (steps run, resumed-from step, final loss, peak lr, parameter counts)."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    latent_size = int(data.latents.shape[-1])
    if comps.unet.config.sample_size != latent_size:
        # SD-1.5 says 64 (512 px); the pipelines' default image size is this value × 8, so a fine-tune at
        # 424 px must say 53 or every generated image comes out at 512 px
        comps.unet.register_to_config(sample_size=latent_size)
    acc = make_accelerator(out_dir, settings)
    training.seed_everything(settings.seed)
    run = prepare_run(comps, settings, acc)
    hyperparameters = {"settings": asdict(settings), "peak_lr": peak_lr(settings),
                       "n_train": len(data.latents)}
    if acc.is_main_process:
        checkpoints.write_record(out_dir, base, **hyperparameters, info=comps.info)
    ckpt = checkpoints.resolve_checkpoint(out_dir, resume)
    start = 0
    if ckpt is not None:
        training.load_state(acc, ckpt)  # models, optimizer, scheduler and the EMA
        run.ema.to(acc.device)
        start = checkpoints.checkpoint_step(ckpt)
    log_path = out_dir / "train_log.csv"
    log = _read_log(log_path, start) if start else []
    bar = tqdm(range(start, settings.steps), desc="fine-tune", initial=start, total=settings.steps,
               disable=not progress or not acc.is_main_process)
    for step in bar:
        log.append(train_step(run, data, step, caption_fn))
        bar.set_postfix(loss=f"{log[-1]['loss']:.4f}")
        done = step + 1
        if acc.is_main_process and (done % settings.checkpoint_every == 0 or done == settings.steps):
            checkpoints.save_checkpoint(acc, out_dir, done, settings.checkpoints_total_limit, hyperparameters)
            _write_log(log, log_path)
    acc.wait_for_everyone()  # every rank has taken its last step before the main one exports
    if acc.is_main_process:
        _write_log(log, log_path)
        checkpoints.export_pipeline(out_dir, comps, run.ema, run.params)
    acc.wait_for_everyone()
    acc.end_training()
    recent = [r["loss"] for r in log[-max(1, len(log) // 10):]]
    return {"steps": settings.steps, "resumed_from": start, "steps_run": settings.steps - start,
            "final_loss": float(np.mean(recent)) if recent else math.nan, "peak_lr": peak_lr(settings),
            "n_params": comps.info.get("n_params"), "out_dir": str(out_dir)}


# --------------------------------------------------------------------------------------------------
# Notebook 08's whole fine-tune
# --------------------------------------------------------------------------------------------------
def base_components(model_dir: Path, values: dict, images: np.ndarray, corpus: Sequence[str], seed: int = 0,
                    progress: bool = True, info: dict | None = None) -> tuple[Components, str | Path]:
    """The pipeline a fine-tune starts from and its name: tiny → ``model_dir/base`` (loaded when it exists,
    else built and its VAE pre-trained on ``images``, VAE losses into ``info``, and saved); otherwise the
    ``pretrained`` hub id or folder."""
    from raregal.paper_b.diffusion.components import build_tiny, spec_from_profile
    from raregal.paper_b.diffusion.vae import pretrain_vae

    if values["pretrained"] != "tiny":
        from raregal.core import model_card

        comps = load_components(values["pretrained"])
        model_card.refuse_same_data_seed(comps.info.get("model_card"), seed, values["pretrained"])
        return comps, values["pretrained"]
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


def finished_run(model_dir: Path, settings: FinetuneSettings) -> dict | None:
    """The record of a finished fine-tune in ``model_dir`` (``pipeline/`` written) with ``settings``,
    None when there is none; a finished run with other settings is refused, not silently reused."""
    if not ((model_dir / checkpoints.PIPELINE_DIR / "model_index.json").exists()
            and (model_dir / checkpoints.RECORD_FILE).exists()):
        return None
    done = checkpoints.read_record(model_dir)
    if done["settings"] != json.loads(json.dumps(asdict(settings))):
        raise ValueError(f"{model_dir} holds a fine-tune with other settings "
                         f"({done['settings']}); rerun with retrain=True to replace it")
    return done


def train_pipeline(model_dir: Path | str, images: np.ndarray, tags: list[list[str]], ids: list,
                   section, corpus: Sequence[str], seed: int = 0, retrain: bool = False,
                   progress: bool = True) -> dict:
    """Notebook 08's whole fine-tune: base components (tiny: build + pre-train the VAE, saved as
    ``base/``; else the ``pretrained`` pipeline), cached latents, :func:`finetune` resumed from the
    latest checkpoint. A finished run with the same settings is loaded, not retrained."""
    import time

    from raregal.paper_b.diffusion.vae import encode_latents, reconstruction_error

    model_dir = Path(model_dir)
    values = vars(section) if not isinstance(section, dict) else dict(section)
    settings = replace(settings_from_profile(values), seed=seed)
    if retrain and model_dir.exists():
        shutil.rmtree(model_dir)
    done = finished_run(model_dir, settings)
    if done is not None:
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
