"""Pretrain the tiny diffusion pipeline (VAE, text encoder, UNet) into a kept base, ``models/<name>/``.

Why: the paper fine-tunes SD-1.5, which has seen billions of images; the tiny pipeline a CPU run can
afford learns coarse shapes from one run's images but draws no dust lane until it has seen ≈ 400k
samples (``benchmarks/diffusion_scale.py``). So the repository pretrains it once, on the pretraining
survey (:mod:`raregal.paper_b.pretrain.survey`), with the very loop a run fine-tunes with
(:func:`raregal.paper_b.diffusion.finetune.finetune`: resumable checkpoints, EMA), and keeps the EMA
weights with a model card. The architecture is the profile's, so a run's fine-tune loads it as is.
Work files (checkpoints, cached latents) live in ``work_dir``, the survey beside it (shared with the
SimCLR base); an interrupted run resumes.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from raregal.core import model_card
from raregal.paper_b.pretrain import survey


@dataclass(frozen=True)
class DiffusionRecipe:
    """What a diffusion base is trained on and how (the values that built ``models/`` are the defaults)."""

    profile: str = "default"  # architecture and image geometry: the profile's diffusion / survey_b
    n_galaxies: int = 150_000  # pretraining survey size
    tag_cap: int = 2000  # galaxies per tag combination (Ma et al. 2025 §3.1)
    max_images: int | None = None
    vae_steps: int = 1000
    vae_batch_size: int = 32
    steps: int = 6400
    batch_size: int = 64
    lr_per_sample: float = 3.125e-5  # peak lr 2e-3 at batch 64
    warmup_steps: int = 300
    checkpoint_every: int = 400
    data_seed: int = survey.DATA_SEED


def _profile_values(profile: str) -> tuple[dict, dict]:
    from raregal.core import config

    cfg = config.setup(profile, "mock", 0, make_dirs=False)
    return cfg.diffusion.as_dict(), cfg.survey_b.as_dict()


def pretrain_diffusion(out: Path | str, work_dir: Path | str, recipe: DiffusionRecipe, command: str,
                       progress: bool = True, log=print) -> dict:
    """Build (or resume) the base; writes ``out`` (diffusers folder + model card) and returns the card."""
    from raregal.paper_b.diffusion import finetune, prompts, vae
    from raregal.paper_b.diffusion.training_pairs import TrainingSet, tag_caption
    from raregal.paper_b.labels import TAGS

    t0 = time.perf_counter()
    work_dir = Path(work_dir)
    started = _first_start(work_dir)
    commit = model_card.git_commit(Path(__file__).resolve().parents[4])  # the code this invocation runs
    values, geometry = _profile_values(recipe.profile)
    size = int(values["resolution"])
    survey_dir = survey.write_pretraining_survey(work_dir.parent, recipe.n_galaxies, int(geometry["image_size"]),
                                                 float(geometry["fov_r90"]), recipe.data_seed, log=log)
    data = survey.load_pretraining_set(survey_dir, recipe.tag_cap, size, recipe.max_images, recipe.data_seed)
    log(f"pretraining set: {data.counts}")
    values.update(pretrained="tiny", vae_steps=recipe.vae_steps, vae_batch_size=recipe.vae_batch_size)
    corpus = list(TAGS.phrase) + list(prompts.TABLE1.prompt)
    model_dir = work_dir / "diffusion"
    comps, base = finetune.base_components(model_dir, values, data.images, corpus, seed=recipe.data_seed,
                                           progress=progress)
    latents_path = model_dir / "latents.pt"
    if latents_path.is_file():
        latents = torch.load(latents_path)
    else:
        latents = vae.encode_latents(comps.vae, data.images)
        torch.save(latents, latents_path)
    settings = finetune.FinetuneSettings(
        steps=recipe.steps, batch_size=recipe.batch_size, lr_per_sample=recipe.lr_per_sample,
        warmup_steps=recipe.warmup_steps, checkpoint_every=recipe.checkpoint_every,
        checkpoints_total_limit=2, ema_decay=float(values["ema_decay"]),
        uncond_prob=float(values["uncond_prob"]), snr_gamma=values["snr_gamma"],
        tag_balance=float(values["tag_balance"]), seed=recipe.data_seed)
    summary = finetune.finetune(comps, TrainingSet(latents, data.tags, data.ids), settings, model_dir,
                                base=base, caption_fn=tag_caption, progress=progress)
    card = survey.base_card(
        "Tiny text-to-image diffusion pipeline (VAE, CLIP text encoder, UNet) pretrained on a mock GZ2 survey "
        "of its own; the base the default profile fine-tunes from, as the paper fine-tunes SD-1.5 "
        "(Ma et al. 2025 §2).", command, recipe,
        {"image_size_px": size, "fov_r90": geometry["fov_r90"], **data.counts},
        {"vae_steps": recipe.vae_steps, "unet_text_steps": recipe.steps, "batch_size": recipe.batch_size,
         "samples_seen": recipe.steps * recipe.batch_size, "resumed_from_step": summary["resumed_from"],
         "final_loss": summary["final_loss"], "peak_lr": summary["peak_lr"], "n_params": summary["n_params"],
         "weights": "EMA (decay %g)" % settings.ema_decay},
        {"first_started": started, "finished": _now(), "this_invocation_s": round(time.perf_counter() - t0, 1)},
        commit)
    return keep_pipeline(model_dir / "pipeline", Path(out), card)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _first_start(work_dir: Path) -> str:
    """When the first invocation on ``work_dir`` began (kept there, so a resumed run reports it)."""
    stamp = work_dir / "started_at.txt"
    if not stamp.is_file():
        work_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(_now())
    return stamp.read_text().strip()


def keep_pipeline(pipeline: Path, out: Path, card: dict) -> dict:
    """Copy a finished pipeline folder to ``out`` (replacing it) with its model card."""
    return model_card.keep(out, lambda folder: shutil.copytree(pipeline, folder), card,
                           title=f"Diffusion base `{out.name}`")
