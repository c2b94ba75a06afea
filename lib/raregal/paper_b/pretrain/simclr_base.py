"""Pretrain the SimCLR ResNet-18 trunk into a kept base, ``models/<name>/``.

Why: Ma et al. (2025, App. A) start SimCLR from ImageNet weights; an untrained trunk trained for a CPU
run's few epochs is no better than random features on the morphology probe. The trunk is pretrained
once on the pretraining survey (every D-ETG left out, :mod:`raregal.paper_b.pretrain.survey`) and saved
in the ``save_pretrained`` layout with a model card; a run's SimCLR starts from it (projection head fresh).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from raregal.core import model_card
from raregal.paper_b.pretrain import survey


@dataclass(frozen=True)
class SimclrRecipe:
    """What a SimCLR base is trained on and how (the values that built ``models/`` are the defaults)."""

    profile: str = "default"  # width and image size: the profile's simclr section
    n_galaxies: int = 150_000  # the pretraining survey (shared with the diffusion base)
    n_images: int = 50_000
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    temperature: float = 0.5
    crop_scale_min: float = 0.4  # square random crops of 40–100 % of the image
    saturation: float = 0.2  # colour jitter: saturation and hue only; brightness and contrast kept,
    hue: float = 0.05  # since a galaxy's colour and light profile are its morphology
    jitter_p: float = 0.8
    data_seed: int = survey.DATA_SEED


def pretrain_simclr(out: Path | str, work_dir: Path | str, recipe: SimclrRecipe, command: str,
                    progress: bool = True, log=print) -> dict:
    """Train (or resume) SimCLR on the pretraining survey; keep the trunk in ``out`` with its card."""
    from raregal.core import images
    from raregal.paper_b import simclr
    from raregal.paper_b.backbone import save_trunk

    t0 = time.perf_counter()
    work_dir = Path(work_dir)
    cfg, survey_dir, commit = survey.begin_base(recipe, work_dir, log)
    imgs, _, counts = survey.pretraining_images(survey_dir, recipe.n_images, cfg.simclr.image_size, recipe.data_seed)
    log(f"SimCLR pretraining images: {counts}")
    settings = simclr.SimCLRSettings(image_size=cfg.simclr.image_size, width=cfg.simclr.width,
                                     batch_size=recipe.batch_size, epochs=recipe.epochs, lr=recipe.lr,
                                     temperature=recipe.temperature, crop_scale=(recipe.crop_scale_min, 1.0),
                                     crop_ratio=(1.0, 1.0), jitter=(0.0, 0.0, recipe.saturation, recipe.hue),
                                     jitter_p=recipe.jitter_p, seed=recipe.data_seed)
    history = simclr.train_simclr(images.to_tensor(imgs), work_dir, settings, log=log if progress else print)
    model = simclr.load_simclr(work_dir)
    last = history.iloc[-1].to_dict() if len(history) else {}
    card = survey.base_card(
        "SimCLR ResNet-18 trunk (width %g) pretrained on a mock GZ2 survey of its own; the base the default "
        "profile's SimCLR starts from, as the paper starts from ImageNet weights (Ma et al. 2025 App. A)."
        % settings.width, command, recipe, {"image_size_px": settings.image_size, **counts},
        {"epochs": recipe.epochs, "batch_size": recipe.batch_size,
         "samples_seen": recipe.epochs * counts["images"], "final_epoch": last, "settings": asdict(settings)},
        {"this_invocation_s": round(time.perf_counter() - t0, 1),
         "epochs_s": float(history.seconds.sum()) if len(history) else 0.0}, commit)
    return model_card.keep(out, lambda folder: save_trunk(model.encoder, folder), card,
                           title=f"SimCLR base `{Path(out).name}`")
