"""Profiles, paths and seeding: the one place that says how big a run is and where it writes.

Nothing happens on import (no directories made, no seeds set); call :func:`setup` from a notebook's
config cell. Paths are absolute, built from the repository root, so code runs from any cwd. The root
is the checkout this package lives in, or ``$RAREGAL_ROOT`` when set (run_all.sh sets it, so a copy of
the repository writes into itself even when it shares an environment with another checkout).
"""
from __future__ import annotations

import contextlib
import copy
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np

PROFILES = ("smoke", "default", "paper")
SOURCES = ("mock", "real")


class ConfigError(ValueError):
    """A run parameter (profile, source, seed, override) is not valid."""


class MissingInputError(FileNotFoundError):
    """An analysis step needs a file that an earlier notebook makes."""


def repo_root() -> Path:
    env = os.environ.get("RAREGAL_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def raw(self) -> Path:  # downloaded, never edited
        return self.data / "raw"

    @property
    def interim(self) -> Path:  # generated / cached surveys
        return self.data / "interim"

    @property
    def processed(self) -> Path:  # analysis-ready arrays
        return self.data / "processed"

    @property
    def models(self) -> Path:  # checkpoints, trained pipelines
        return self.data / "models"

    @property
    def catalogs(self) -> Path:  # catalogs this repository publishes (e.g. D-ETG candidates)
        return self.data / "catalogs"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def tables(self) -> Path:
        return self.root / "paper" / "tables"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def report_dir(self) -> Path:
        return self.root / "paper" / "build"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    def ensure(self) -> "Paths":
        for p in (self.raw, self.interim, self.processed, self.models, self.catalogs,
                  self.figures, self.tables, self.build, self.report_dir):
            p.mkdir(parents=True, exist_ok=True)
        return self


# ---------------------------------------------------------------------------------------------
# Profiles. Each section belongs to one part of the pipeline; every shrink of the paper's sizes is a
# value here, and notebooks print the section they use so a default-profile number is never mistaken
# for a paper-scale one. ``smoke`` is plumbing only (seconds per notebook); ``default`` is the embedded
# mock survey on 2 CPU cores within 30 minutes for the whole run; ``paper`` is the papers' settings.
# ---------------------------------------------------------------------------------------------
SECTIONS: dict[str, dict[str, dict[str, Any]]] = {
    # Paper A mock survey (issue 3)
    "survey_a": {
        "smoke": {"n_normal": 300, "n_green_pea": 12, "n_red_spiral": 24, "bad_fraction": 0.02},
        "default": {"n_normal": 6000, "n_green_pea": 40, "n_red_spiral": 120, "bad_fraction": 0.01},
        "paper": {"n_normal": 26126, "n_green_pea": 13, "n_red_spiral": 294, "bad_fraction": 0.01},
    },
    # Paper A preprocessing (issue 3)
    # orientation_method: "fast" (batched moments, validated) or "photutils" (paper's recipe, ~60 ms
    # each); n_photutils_check: galaxies also measured with photutils to report the agreement.
    "preprocess": {
        "smoke": {"beta": 10.0, "size": 69, "max_drop_fraction": 0.2, "orientation_method": "fast",
                  "n_photutils_check": 8},
        "default": {"beta": 10.0, "size": 69, "max_drop_fraction": 0.1,
                    "orientation_method": "fast", "n_photutils_check": 250},
        "paper": {"beta": 10.0, "size": 69, "max_drop_fraction": 0.1,
                  "orientation_method": "photutils", "n_photutils_check": 0},
    },
    # Paper A CVAE training (issue 4)
    "cvae": {
        # channels: (enc1, enc2) widths of the authors' topology; z_err_floor: σ floor for spectroscopic z
        # (paper: authors' code placeholder 1e-3; default 1e-2, at which the z χ² no longer outweighs the
        # other terms ~100:1). default: batch 32 gives 4x the Adam steps of 128 at lower CPU cost/galaxy;
        # augment: dihedral flips (orientation moved with them) — without them the physics CVAE memorises
        # its ~4,800 training galaxies (train R² z 0.83 vs val 0.16 after 7 epochs); the paper has none.
        # schedule: constant lr (paper) or per-step onecycle/cosine peaking at lr. default: 25 epochs of
        # one-cycle at peak 2e-3 (≈11 s/epoch/model on this CPU, 1 thread). Measured on the mock (val R²
        # z / log M* / log SFR of the physics latents): constant 1e-3 15 epochs 0.69/0.48/0.19 (val loss
        # still falling, jumping ±50 % between epochs), 30 epochs 0.72/0.53/0.27; one-cycle 25 epochs
        # 0.74/0.53/0.24. z_err_floor 0.05 instead of 1e-2 (same schedule): 0.72/0.53/0.28 — kept 1e-2.
        "smoke": {"epochs": 2, "batch_size": 128, "lr": 1e-3, "latent_dim": 5, "channels": (4, 8),
                  "beta0": 10.0, "beta1": 50.0, "z_err_floor": 1e-2, "periodic_variant": False,
                  "augment": True, "schedule": "onecycle"},
        "default": {"epochs": 25, "batch_size": 32, "lr": 2e-3, "latent_dim": 5, "channels": (16, 32),
                    "beta0": 10.0, "beta1": 50.0, "z_err_floor": 1e-2, "periodic_variant": False,
                    "augment": True, "schedule": "onecycle"},
        "paper": {"epochs": 1000, "batch_size": 128, "lr": 5e-6, "latent_dim": 5, "channels": (16, 32),
                  "beta0": 10.0, "beta1": 50.0, "z_err_floor": 1e-3, "periodic_variant": False,
                  "augment": False, "schedule": "constant"},
    },
    # Paper A anomaly detection (issue 4)
    "anomalies": {
        # timing_batches / timing_galaxies: the encoding benchmark of 06 (batch sizes, galaxies per size)
        "smoke": {"n_trials": 2, "n_neighbours": 10, "timing_batches": (1, 64), "timing_galaxies": 128},
        "default": {"n_trials": 5, "n_neighbours": 10, "timing_batches": (1, 128, 4096),
                    "timing_galaxies": 4096},
        "paper": {"n_trials": 5, "n_neighbours": 10, "timing_batches": (1, 128, 4096),
                  "timing_galaxies": 4096},
    },
    # Paper B mock GZ2 survey (issue 6). image_size px spans fov_r90 × R90 (GZ2 native: 424 px,
    # 8.48 R90; default: GZ2's central half at 64 px so features span pixels). detg_fraction: true
    # D-ETGs (paper ≈0.13 %; default 2 %: ≈400 true, ≈130 in the known catalog, so Table 3 has its
    # 100 training positives + a test set, and the search has unknown ones to find).
    "survey_b": {
        "smoke": {"n_galaxies": 400, "image_size": 64, "fov_r90": 4.24, "detg_fraction": 0.02},
        "default": {"n_galaxies": 20000, "image_size": 64, "fov_r90": 4.24, "detg_fraction": 0.02},
        "paper": {"n_galaxies": 240000, "image_size": 424, "fov_r90": 8.48, "detg_fraction": 0.0013},
    },
    # Paper B tags and balancing (issue 6): at most tag_cap galaxies per tag combination (paper 2,000)
    "labels": {
        "smoke": {"tag_cap": 50, "gallery_per_tag": 4},
        "default": {"tag_cap": 400, "gallery_per_tag": 8},
        "paper": {"tag_cap": 2000, "gallery_per_tag": 8},
    },
    # Paper B diffusion fine-tune (issue 7)
    # pretrained: "tiny" (built here; VAE pre-trained vae_steps on the mock images) or an SD-1.5 hub id /
    # folder. lr_per_sample × batch = peak lr (paper 1e-7 × 16 = 1.6e-6 for a
    # pre-trained model; tiny trains from scratch: 6.25e-5 × 16 = 1e-3). uncond_prob: captions dropped so
    # guidance has an unconditional branch to contrast (SD-1.5 learned one in pre-training; tiny must
    # learn it). snr_gamma: min-SNR-γ loss weights (None = the paper's plain ε-MSE); tag_balance: images
    # drawn with weight (1 / count of their rarest tag)^α (0 = uniform, the paper) so ring, dust-lane,
    # 4-arm and merger captions are seen 2.2–3.4× as often (α 0.5 on the default mock). checkpoints_total_limit None keeps every
    # checkpoint (notebook 10 plots metrics vs step). strength: img2img fraction re-run from a noised
    # reference (paper: not stated). guidance: paper 6.5 (for SD-1.5); the tiny default samples at 3,
    # because at 6.5 its edge-on disks break apart and cigars bend (64 px fine-tune, seeds 0–3 looked at).
    # default: the mock's native 64 px → 32×32×4 latents (VAE factor 2; at 32 px, or with factor 4 at
    # 64 px, dust lanes, rings and arm counts are gone before the diffusion model sees them); the UNet's
    # 32×32 and 16×16 levels are narrow and attention-free (cheap on CPU), cross-attention at 8×8, 4×4
    # and mid. Tried on the mock: unet_channels (32, 32, 64, 64), lr_per_sample 1.25e-4 and tag_balance
    # 1.0 draw clear spiral arms, straight edge-ons and merger arcs (pale blobs here), but take notebooks
    # 08 + 10 + 11 from 926 s to 1,090 s, over the 30-min whole-run budget on a 2-core CPU; neither
    # setting draws dust lanes (B-prompt-pairs). On a GPU (benchmarks/diffusion_scale.py) this default UNet
    # begins to draw them (edge-on disks split by a dark band, some seeds) with 13.6x the samples.
    "diffusion": {
        "smoke": {"pretrained": "tiny", "resolution": 16, "vae_channels": (8, 16),
                  "unet_channels": (16, 32), "cross_attention_levels": None, "text_hidden": 32,
                  "text_layers": 1, "text_heads": 2,
                  "max_length": 24, "vae_steps": 2, "vae_batch_size": 8, "vae_lr": 2e-3,
                  "max_images": 64, "steps": 2, "batch_size": 4, "lr_per_sample": 6.25e-5,
                  "warmup_steps": 1, "checkpoint_every": 1, "checkpoints_total_limit": None,
                  "ema_decay": 0.999, "uncond_prob": 0.1, "snr_gamma": None, "tag_balance": 0.0,
                  "inference_steps": 2, "guidance": 6.5, "strength": 0.8, "n_per_prompt": 3},
        "default": {"pretrained": "tiny", "resolution": 64, "vae_channels": (16, 32),
                    "unet_channels": (16, 32, 64, 64), "cross_attention_levels": (False, False, True, True),
                    "text_hidden": 64, "text_layers": 2,
                    "text_heads": 4, "max_length": 24, "vae_steps": 300, "vae_batch_size": 16,
                    "vae_lr": 2e-3, "max_images": None, "steps": 2000, "batch_size": 16,
                    "lr_per_sample": 6.25e-5, "warmup_steps": 100, "checkpoint_every": 200,
                    "checkpoints_total_limit": None, "ema_decay": 0.999, "uncond_prob": 0.1,
                    "snr_gamma": 5.0, "tag_balance": 0.5,
                    "inference_steps": 40, "guidance": 3.0, "strength": 0.8, "n_per_prompt": 3},
        "paper": {"pretrained": "stable-diffusion-v1-5/stable-diffusion-v1-5", "resolution": 424,
                  "vae_channels": None, "unet_channels": None, "cross_attention_levels": None,
                  "text_hidden": None,
                  "text_layers": None, "text_heads": None, "max_length": 77, "vae_steps": None,
                  "vae_batch_size": None, "vae_lr": None, "max_images": None,
                  "steps": 10000, "batch_size": 16, "lr_per_sample": 1e-7, "warmup_steps": 400,
                  "checkpoint_every": 1000, "checkpoints_total_limit": None, "ema_decay": 0.9999,
                  "uncond_prob": 0.0, "snr_gamma": None, "tag_balance": 0.0,
                  "inference_steps": 40, "guidance": 6.5, "strength": 0.8,
                  "n_per_prompt": 3},
    },
    # Paper B SimCLR (issue 8)
    # width: ResNet-18 channel multiplier (1.0 = paper); n_train: galaxies SimCLR trains on (None =
    # all); pretrained: None = random init, or a transformers ResNet-18 (the paper used ImageNet
    # weights; needs width 1.0 and a network or a local copy); n_tsne: points in Fig. A2.
    "simclr": {
        "smoke": {"epochs": 1, "batch_size": 32, "image_size": 32, "width": 0.125, "n_train": 128,
                  "pretrained": None, "n_tsne": 150},
        "default": {"epochs": 8, "batch_size": 256, "image_size": 48, "width": 0.25, "n_train": 3000,
                    "pretrained": None, "n_tsne": 1500},
        "paper": {"epochs": 200, "batch_size": 256, "image_size": 224, "width": 1.0, "n_train": None,
                  "pretrained": "microsoft/resnet-18", "n_tsne": 5000},
    },
    # Paper B realism / diversity / consistency (issue 8). n_per_prompt: text-to-image samples per
    # Table 1 prompt and checkpoint (the paper does not say how many); inference_steps: sampler steps
    # for them (paper 40); holdout_fraction: real galaxies held out as the ceiling ("generated" by
    # nature); max_real_per_condition: cap on those per prompt; min_positives: rarer answer needed to
    # fit a visual-question classifier.
    "metrics": {
        "smoke": {"n_per_prompt": 2, "inference_steps": 2, "holdout_fraction": 0.3,
                  "max_real_per_condition": 40, "min_positives": 3, "batch_size": 32},
        "default": {"n_per_prompt": 4, "inference_steps": 15, "holdout_fraction": 0.3,
                    "max_real_per_condition": 200, "min_positives": 10, "batch_size": 64},
        "paper": {"n_per_prompt": 50, "inference_steps": 40, "holdout_fraction": 0.3,
                  "max_real_per_condition": None, "min_positives": 20, "batch_size": 16},
    },
    # Paper B classifiers (issue 9). mode "finetune": the whole ResNet-18 (width × paper channels) is
    # trained on images with kornia crop/rotation/flip per batch (paper). mode "frozen": the SimCLR
    # trunk of notebook 09 is frozen, each image embedded as n_views views (view 0 plain, the others
    # augmented) and only the linear head is trained — the CPU choice for the many small classifiers
    # (lr 1e-3 for a head alone; the paper's 1e-4 is for the whole network). image_size None = the
    # encoder's. n_synthetic: generated positives added per task (the paper does not state it);
    # synthetic_steps / synthetic_strength: sampler steps and img2img strength for those images.
    "classifiers": {
        "smoke": {"mode": "frozen", "width": None, "image_size": None, "n_views": 1,
                  "n_negatives": 100, "epochs": 2, "batch_size": 64, "lr": 1e-3, "n_seeds": 1,
                  "n_synthetic": 4, "synthetic_steps": 2, "synthetic_strength": 0.8},
        "default": {"mode": "frozen", "width": None, "image_size": None, "n_views": 2,
                    "n_negatives": 2000, "epochs": 20, "batch_size": 512, "lr": 1e-3, "n_seeds": 3,
                    "n_synthetic": 150, "synthetic_steps": 20, "synthetic_strength": 0.8},
        "paper": {"mode": "finetune", "width": 1.0, "image_size": 224, "n_views": 1,
                  "n_negatives": 10000, "epochs": 20, "batch_size": 64, "lr": 1e-4, "n_seeds": 3,
                  "n_synthetic": 5000, "synthetic_steps": 40, "synthetic_strength": 0.8},
    },
    # Paper B D-ETG task and search (issue 9), trained as the "classifiers" section says.
    # Table 3: known D-ETGs : n_negatives random galaxies at positive_ratio (paper 100 : 10,000).
    # Search: n_synthetic synthetic D-ETGs + search_negatives random galaxies, n_rounds rounds, at most
    # max_candidates vetted per round (None = all flagged), 3 simulated reviewers on the mock who
    # miss a true D-ETG with reviewer_miss_rate and accept a non-D-ETG with reviewer_false_yes_rate;
    # n_control z/M*-matched control ETGs, n_boot bootstrap resamples for the CDF bands.
    "detg": {
        "smoke": {"n_negatives": 100, "positive_ratio": 0.01, "n_seeds": 1, "n_synthetic": 8,
                  "search_negatives": 50, "n_rounds": 2, "max_candidates": 20,
                  "reviewer_miss_rate": 0.15, "reviewer_false_yes_rate": 0.03, "n_control": 50,
                  "n_boot": 20},
        "default": {"n_negatives": 10000, "positive_ratio": 0.01, "n_seeds": 5, "n_synthetic": 300,
                    "search_negatives": 3000, "n_rounds": 3, "max_candidates": 600,
                    "reviewer_miss_rate": 0.15, "reviewer_false_yes_rate": 0.03, "n_control": 1000,
                    "n_boot": 200},
        "paper": {"n_negatives": 10000, "positive_ratio": 0.01, "n_seeds": 3, "n_synthetic": 10000,
                  "search_negatives": 10000, "n_rounds": 3, "max_candidates": None,
                  "reviewer_miss_rate": 0.15, "reviewer_false_yes_rate": 0.03, "n_control": 4000,
                  "n_boot": 1000},
    },
}


@dataclass
class RunConfig:
    """What a notebook runs with: profile, source, seed, paths and the profile's sections."""

    profile: str
    source: str
    seed: int
    paths: Paths
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> SimpleNamespace:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return SimpleNamespace(**sections[name])
        raise AttributeError(f"RunConfig has no section {name!r}; sections: {sorted(sections)}")

    def data_dir(self, stage: str, *parts: str) -> Path:
        """``data/<stage>/<source>-<profile>/<parts>``: mock and real, smoke and default never mix.

        ``stage`` is ``interim`` (surveys as generated or downloaded), ``processed`` (analysis-ready
        arrays) or ``models`` (checkpoints). Raw downloads live in ``paths.raw``, shared by profiles.
        """
        if stage not in ("interim", "processed", "models"):
            raise ConfigError(f"unknown data stage {stage!r}; use interim, processed or models")
        return getattr(self.paths, stage) / f"{self.source}-{self.profile}" / Path(*parts)

    def describe(self, *names: str) -> str:
        """One line per section, for the notebook to print (sizes used by this run)."""
        lines = [f"profile={self.profile} source={self.source} seed={self.seed}"]
        for n in names or sorted(self.sections):
            vals = ", ".join(f"{k}={v}" for k, v in self.sections[n].items())
            lines.append(f"  {n}: {vals}")
        return "\n".join(lines)


def validate(profile: str, source: str, seed: Any) -> int:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    try:
        seed_int = int(seed)
    except (TypeError, ValueError):
        raise ConfigError(f"seed must be an integer, got {seed!r}") from None
    if seed_int < 0:
        raise ConfigError(f"seed must be >= 0, got {seed_int}")
    return seed_int


def profile_sections(profile: str, overrides: dict[str, dict[str, Any]] | None = None) -> dict:
    """The profile's value for every section, with optional per-section overrides checked by name."""
    validate(profile, "mock", 0)
    out = {name: copy.deepcopy(by_profile[profile]) for name, by_profile in SECTIONS.items()}
    for section, values in (overrides or {}).items():
        if section not in out:
            raise ConfigError(f"unknown section {section!r}; sections: {sorted(out)}")
        unknown = set(values) - set(out[section])
        if unknown:
            raise ConfigError(f"unknown keys for section {section!r}: {sorted(unknown)}; "
                              f"known: {sorted(out[section])}")
        out[section].update(values)
    return out


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a notebook rerun gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads (None or 0: unchanged), restoring the count afterwards.

    Small CPU nets on a machine whose cores are busy run far faster on one thread: with two, OpenMP
    workers spin-wait for a core (a tiny ResNet step went from 0.9 s to 0.03 s on a loaded 2-core box).
    """
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def setup(profile: str = "default", source: str = "mock", seed: int = 0,
          overrides: dict[str, dict[str, Any]] | None = None, make_dirs: bool = True) -> RunConfig:
    """Validate the run parameters, seed every generator, create the output folders."""
    seed_int = validate(profile, source, seed)
    paths = Paths(repo_root())
    if make_dirs:
        paths.ensure()
    seed_everything(seed_int)
    return RunConfig(profile=profile, source=source, seed=seed_int, paths=paths,
                     sections=profile_sections(profile, overrides))


def require(path: Path | str, made_by: str) -> Path:
    """Return ``path`` if it exists, else fail naming the notebook that makes it."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(
            f"missing input {p}: run notebook {made_by} first "
            f"(./run_all.sh --only {made_by[:2]}) with the same profile and source")
    return p
