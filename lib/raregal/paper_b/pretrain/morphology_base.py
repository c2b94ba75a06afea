"""Pretrain a ResNet-18 trunk on the morphology classes of the pretraining survey: the SimCLR base.

Why: Ma et al. (2025, App. A) start SimCLR from ImageNet weights, themselves learned by supervised
classification. Our stand-in is a trunk of the default profile's shape trained to classify the
pretraining survey's galaxies by their volunteer tags (the first of
:data:`raregal.paper_b.simclr.MORPHOLOGY_ORDER` each carries), every D-ETG left out
(:mod:`raregal.paper_b.pretrain.survey`). Measured on the default mock: SimCLR pretrained
self-supervised on 50,000 of these galaxies stays at a 9-class probe of 0.72–0.76 whatever its
temperature, crops, colour jitter or epochs; this base gives 0.85 after notebook 09's fine-tune.
``MorphologyRecipe.classes`` chooses what it is taught (docs/decisions.md: a base never taught the
dust-lane class, as ImageNet weights were not, measured and not adopted).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raregal.core import model_card
from raregal.paper_b.pretrain import survey
from raregal.paper_b.simclr.probe import MORPHOLOGY_ORDER


@dataclass(frozen=True)
class MorphologyRecipe:
    """What a morphology base is trained on and how (the values that built ``models/`` are the defaults)."""

    profile: str = "default"  # width and image size: the profile's simclr section
    n_galaxies: int = 150_000  # the pretraining survey (shared with the other bases)
    n_images: int = 60_000  # galaxies with a morphology class, drawn at random
    epochs: int = 6
    batch_size: int = 128
    lr: float = 1e-3  # peak of a one-cycle schedule (AdamW)
    weight_decay: float = 1e-4
    crop_scale_min: float = 0.8  # square random crops of 80–100 % of the image, flips, any rotation
    data_seed: int = survey.DATA_SEED
    # the classes taught, in the order that picks a galaxy's class (comma-separated tag names)
    classes: str = ",".join(MORPHOLOGY_ORDER)

    def __post_init__(self):
        self.class_order()  # a bad list stops the command before the survey is rendered or read

    def class_order(self) -> tuple[str, ...]:
        """The recipe's classes, checked against the probe's tags (a typo would label nothing)."""
        order = tuple(c.strip() for c in self.classes.split(",") if c.strip())
        unknown = sorted(set(order) - set(MORPHOLOGY_ORDER))
        if len(order) < 2 or unknown or len(set(order)) != len(order):
            raise ValueError(f"classes must be two or more distinct tags of {', '.join(MORPHOLOGY_ORDER)}; "
                             f"got {self.classes!r}" + (f" (unknown: {unknown})" if unknown else ""))
        return order


def train_classifier(trunk, images, classes: np.ndarray, n_classes: int, recipe: MorphologyRecipe,
                     image_size: int, log=print) -> list[dict]:
    """Train ``trunk`` + a linear layer on ``classes`` (int per image) with class-balanced cross
    entropy; returns one row per epoch (loss, training accuracy, seconds). The layer is dropped after."""
    import torch

    from raregal.paper_b.simclr import galaxy_augment

    torch.manual_seed(recipe.data_seed)
    y = torch.as_tensor(classes, dtype=torch.long)
    counts = np.bincount(classes, minlength=n_classes)
    weight = torch.as_tensor(len(y) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32)
    net = torch.nn.Sequential(trunk, torch.nn.Linear(trunk.feature_dim, n_classes))
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    n_batches = -(-len(y) // recipe.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.lr, total_steps=recipe.epochs * n_batches)
    augment = galaxy_augment(image_size, (recipe.crop_scale_min, 1.0), crop_ratio=(1.0, 1.0))
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    history = []
    for epoch in range(recipe.epochs):
        t0, net = time.perf_counter(), net.train()
        total = correct = 0.0
        for idx in torch.randperm(len(y)).split(recipe.batch_size):
            with torch.no_grad():
                xb = augment(images[idx])
            out = net(xb)
            loss = loss_fn(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += (out.argmax(1) == y[idx]).sum().item()
        history.append({"epoch": epoch + 1, "train_loss": total / len(y), "train_accuracy": correct / len(y),
                        "seconds": time.perf_counter() - t0})
        log(f"epoch {epoch + 1}/{recipe.epochs}: loss {history[-1]['train_loss']:.4f} "
            f"accuracy {history[-1]['train_accuracy']:.3f} ({history[-1]['seconds']:.0f} s)")
    trunk.eval()
    return history


def pretrain_morphology(out: Path | str, work_dir: Path | str, recipe: MorphologyRecipe, command: str,
                        progress: bool = True, log=print) -> dict:
    """Train the trunk on the pretraining survey's morphology classes; keep it in ``out`` with its card."""
    from raregal.core import images
    from raregal.paper_b import simclr
    from raregal.paper_b.backbone import build_resnet18, save_trunk

    t0 = time.perf_counter()
    work_dir = Path(work_dir)
    cfg, survey_dir, commit = survey.begin_base(recipe, work_dir, log)
    size = cfg.simclr.image_size
    classes = list(recipe.class_order())
    imgs, rows, counts = survey.pretraining_images(
        survey_dir, recipe.n_images, size, recipe.data_seed,
        eligible=lambda tags: simclr.morphology_class(tags, classes) != "")
    names = simclr.morphology_class(rows, classes)
    y = np.array([classes.index(c) for c in names], np.int64)
    counts["per_class"] = dict(zip(classes, np.bincount(y, minlength=len(classes)).tolist()))
    log(f"morphology pretraining images: {counts}")
    trunk = build_resnet18(cfg.simclr.width)
    history = train_classifier(trunk, images.to_tensor(imgs), y, len(classes), recipe, size,
                               log=log if progress else (lambda *a: None))
    card = survey.base_card(
        "ResNet-18 trunk (width %g, %d px) trained to classify a mock GZ2 survey of its own by its volunteer "
        "morphology tags; the base the default profile's SimCLR starts from, as the paper's starts from "
        "ImageNet weights (Ma et al. 2025 App. A)." % (cfg.simclr.width, size), command, recipe,
        {"image_size_px": size, "labels": "first tag of " + ", ".join(classes), **counts},
        {"epochs": recipe.epochs, "batch_size": recipe.batch_size,
         "samples_seen": recipe.epochs * counts["images"], "final_epoch": history[-1] if history else {}},
        {"this_invocation_s": round(time.perf_counter() - t0, 1),
         "epochs_s": float(sum(h["seconds"] for h in history))}, commit)
    return model_card.keep(out, lambda folder: save_trunk(trunk, folder), card,
                           title=f"Morphology base `{Path(out).name}`")
