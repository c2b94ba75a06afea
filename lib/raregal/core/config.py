"""Profiles, paths and seeding: the one place that says how big a run is and where it writes.

Nothing happens on import (no directories made, no seeds set); call :func:`setup` from a notebook's
config cell. Paths are absolute, built from the repository root, so code runs from any cwd. The root
is the checkout this package lives in, or ``$RAREGAL_ROOT`` when set (run_all.sh sets it, so a copy of
the repository writes into itself even when it shares an environment with another checkout).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from raregal.core import plotting, settings
from raregal.core.settings import ConfigError
from raregal.core.training import seed_everything

PROFILES = ("smoke", "default", "paper")
SOURCES = ("mock", "real")


class MissingInputError(FileNotFoundError):
    """An analysis step needs a file that an earlier notebook makes."""


def repo_root() -> Path:
    env = os.environ.get("RAREGAL_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3]


def run_name(source: str, profile: str) -> str:
    """``<source>-<profile>``: the folder name that keeps one run's data and outputs apart from another's."""
    return f"{source}-{profile}"


@dataclass(frozen=True)
class Paths:
    """Where things live under the repository ``root``; ``run`` (``<source>-<profile>``) picks a run's.

    Data are shared by runs only where they are raw downloads (``raw``); generated figures, tables,
    catalogs, executed notebooks and reports live in a folder per run, so a real run never overwrites
    the mock run's outputs (and smoke never overwrites default).
    """

    root: Path
    run: str = ""

    def _of_run(self, base: Path) -> Path:
        if not self.run:
            raise ConfigError(f"{base} is kept per run: make the paths with config.setup(profile, "
                              f"source, seed) or Paths(root, run=config.run_name(source, profile))")
        return base / self.run

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
    def catalogs(self) -> Path:  # catalogs this run publishes (e.g. D-ETG candidates)
        return self._of_run(self.data / "catalogs")

    @property
    def figures(self) -> Path:
        return self._of_run(self.root / "figures")

    @property
    def tables(self) -> Path:
        return self._of_run(self.root / "paper" / "tables")

    @property
    def build(self) -> Path:  # executed notebooks and their timings
        return self._of_run(self.root / "build")

    @property
    def reports(self) -> Path:  # every run's report folder, and the index page listing them
        return self.root / "paper" / "build"

    @property
    def report_dir(self) -> Path:
        return self._of_run(self.reports)

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    def ensure(self) -> Paths:
        for p in (self.raw, self.interim, self.processed, self.models, self.catalogs,
                  self.figures, self.tables, self.build, self.report_dir):
            p.mkdir(parents=True, exist_ok=True)
        return self


# ---------------------------------------------------------------------------------------------
# Profile values, section → profile → key → value. Keys, their types and one line on each:
# raregal.core.settings; why a profile holds the value it holds (measurements): docs/decisions.md.
# ``smoke`` is plumbing only (seconds per notebook); ``default`` is the embedded mock survey on 2 CPU
# cores within 30 minutes for the whole run; ``paper`` is the papers' settings. Every shrink of a paper
# value is here, and notebooks print the sections they use (cfg.describe).
# ---------------------------------------------------------------------------------------------
SECTIONS: dict[str, dict[str, dict[str, Any]]] = {
    # Paper A mock survey (Gagliano & Villar 2023 §2: 26,126 normal, 13 Green Peas, 294 Red Spirals)
    "survey_a": {
        "smoke": {"n_normal": 300, "n_green_pea": 12, "n_red_spiral": 24, "bad_fraction": 0.02},
        "default": {"n_normal": 6000, "n_green_pea": 40, "n_red_spiral": 120, "bad_fraction": 0.01},
        "paper": {"n_normal": 26126, "n_green_pea": 13, "n_red_spiral": 294, "bad_fraction": 0.01},
    },
    # Paper A preprocessing (Gagliano & Villar 2023 §2, eq. 1; photutils orientations)
    "preprocess": {
        "smoke": {"beta": 10.0, "size": 69, "max_drop_fraction": 0.2, "orientation_method": "fast",
                  "n_photutils_check": 8},
        "default": {"beta": 10.0, "size": 69, "max_drop_fraction": 0.1,
                    "orientation_method": "fast", "n_photutils_check": 250},
        "paper": {"beta": 10.0, "size": 69, "max_drop_fraction": 0.1,
                  "orientation_method": "photutils", "n_photutils_check": 0},
    },
    # Paper A CVAE training (Gagliano & Villar 2023 §2: 1000 epochs, Adam lr 5e-6; authors' code: batch 128)
    "cvae": {
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
    # Paper A anomaly recovery and encoding speed (Gagliano & Villar 2023 §3: five SVM trials; Fig. 3)
    "anomalies": {
        "smoke": {"n_trials": 2, "n_neighbours": 10, "timing_batches": (1, 64), "timing_galaxies": 128,
                  "scale_galaxies": 256, "scale_shard_size": 128},
        "default": {"n_trials": 5, "n_neighbours": 10, "timing_batches": (1, 128, 4096),
                    "timing_galaxies": 4096, "scale_galaxies": 8192, "scale_shard_size": 512},
        "paper": {"n_trials": 5, "n_neighbours": 10, "timing_batches": (1, 128, 4096),
                  "timing_galaxies": 4096, "scale_galaxies": 8192, "scale_shard_size": 256},
    },
    # Paper B mock GZ2 survey (Willett et al. 2013 images: 424 px spanning 8.48 R90; Ma et al. 2025 §3.1)
    "survey_b": {
        "smoke": {"n_galaxies": 400, "image_size": 64, "fov_r90": 4.24, "detg_fraction": 0.02,
                    "detg_lane_depth": 1.0},
        "default": {"n_galaxies": 20000, "image_size": 64, "fov_r90": 4.24, "detg_fraction": 0.02,
                    "detg_lane_depth": 1.0},
        "paper": {"n_galaxies": 240000, "image_size": 424, "fov_r90": 8.48, "detg_fraction": 0.0013,
                    "detg_lane_depth": 1.0},
    },
    # Paper B tags and balancing (Ma et al. 2025 §3.1: at most 2,000 galaxies per tag combination)
    "labels": {
        "smoke": {"tag_cap": 50, "gallery_per_tag": 4},
        "default": {"tag_cap": 400, "gallery_per_tag": 8},
        "paper": {"tag_cap": 2000, "gallery_per_tag": 8},
    },
    # Paper B diffusion fine-tune (Ma et al. 2025 §2: SD-1.5 fully fine-tuned; the authors' code: 10,000
    # steps, batch 16, lr 1e-7 per sample, guidance 6.5, 40 sampler steps); default fine-tunes the tiny
    # pipeline pretrained by `python -m raregal.pretrain diffusion` (models/, as the paper starts from
    # SD-1.5; the architecture keys must match it); smoke builds a tiny one from scratch
    "diffusion": {
        "smoke": {"pretrained": "tiny", "resolution": 16, "vae_channels": (8, 16),
                  "unet_channels": (16, 32), "cross_attention_levels": None, "text_hidden": 32,
                  "text_layers": 1, "text_heads": 2,
                  "max_length": 24, "vae_steps": 2, "vae_batch_size": 8, "vae_lr": 2e-3,
                  "max_images": 64, "steps": 2, "batch_size": 4, "lr_per_sample": 6.25e-5,
                  "warmup_steps": 1, "checkpoint_every": 1, "checkpoints_total_limit": None,
                  "ema_decay": 0.999, "uncond_prob": 0.1, "snr_gamma": None, "tag_balance": 0.0,
                  "inference_steps": 2, "guidance": 6.5, "strength": 0.8, "n_per_prompt": 3},
        "default": {"pretrained": "models/gz2-diffusion-64", "resolution": 64, "vae_channels": (16, 32),
                    "unet_channels": (16, 32, 64, 64), "cross_attention_levels": (False, False, True, True),
                    "text_hidden": 64, "text_layers": 2,
                    "text_heads": 4, "max_length": 24, "vae_steps": 300, "vae_batch_size": 16,
                    "vae_lr": 2e-3, "max_images": None, "steps": 1000, "batch_size": 16,
                    "lr_per_sample": 1.5625e-5, "warmup_steps": 50, "checkpoint_every": 200,
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
    # Paper B SimCLR (Ma et al. 2025 App. A: ImageNet-initialised ResNet-18, 200 epochs, batch 256, lr 1e-3);
    # default starts from the trunk `python -m raregal.pretrain morphology` trained on a mock survey of its own
    "simclr": {
        "smoke": {"epochs": 1, "batch_size": 32, "image_size": 32, "width": 0.125, "n_train": 128,
                  "pretrained": None, "lr": 1e-3, "n_tsne": 150},
        "default": {"epochs": 8, "batch_size": 64, "image_size": 48, "width": 0.25, "n_train": 3000,
                    "pretrained": "models/gz2-morphology-48", "lr": 1e-4, "n_tsne": 1500},
        "paper": {"epochs": 200, "batch_size": 256, "image_size": 224, "width": 1.0, "n_train": None,
                  "pretrained": "microsoft/resnet-18", "lr": 1e-3, "n_tsne": 5000},
    },
    # Paper B realism / diversity / consistency (Ma et al. 2025 §4.1; samples per prompt not stated)
    "metrics": {
        "smoke": {"n_per_prompt": 2, "inference_steps": 2, "holdout_fraction": 0.3,
                  "max_real_per_condition": 40, "min_positives": 3, "batch_size": 32},
        "default": {"n_per_prompt": 4, "inference_steps": 15, "holdout_fraction": 0.3,
                    "max_real_per_condition": 200, "min_positives": 10, "batch_size": 64},
        "paper": {"n_per_prompt": 50, "inference_steps": 40, "holdout_fraction": 0.3,
                  "max_real_per_condition": None, "min_positives": 20, "batch_size": 16},
    },
    # Paper B classifiers (Ma et al. 2025 §4.2, Table 2: 10,000 negatives per task, Adam lr 1e-4)
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
    # Paper B D-ETG task and search (Ma et al. 2025 §4.3, Table 3: 100 known D-ETGs : 10,000 galaxies;
    # search on 10,000 synthetic D-ETGs + 10,000 random galaxies), trained as "classifiers" says
    "detg": {
        "smoke": {"n_negatives": 100, "positive_ratio": 0.01, "n_seeds": 1, "few_known": 1, "n_synthetic": 8,
                  "synthetic_guidance": None, "synthetic_strength": None, "lane_weight": 1.3,
                  "classifier_mode": None, "search_negatives": 50, "n_rounds": 2, "max_candidates": 20,
                  "reviewer_miss_rate": 0.15, "reviewer_false_yes_rate": 0.03, "n_control": 50,
                  "n_boot": 20},
        "default": {"n_negatives": 10000, "positive_ratio": 0.01, "n_seeds": 5, "few_known": 5,
                    "n_synthetic": 300, "synthetic_guidance": 2.0,
                    "synthetic_strength": 0.9, "lane_weight": 2.5, "classifier_mode": "last_block",
                    "search_negatives": 3000, "n_rounds": 3, "max_candidates": 600,
                    "reviewer_miss_rate": 0.15, "reviewer_false_yes_rate": 0.03, "n_control": 1000,
                    "n_boot": 200},
        "paper": {"n_negatives": 10000, "positive_ratio": 0.01, "n_seeds": 3, "few_known": 5,
                  "n_synthetic": 10000, "synthetic_guidance": None,
                  "synthetic_strength": None, "lane_weight": 1.3, "classifier_mode": None,
                  "search_negatives": 10000, "n_rounds": 3, "max_candidates": None,
                  "reviewer_miss_rate": 0.15, "reviewer_false_yes_rate": 0.03, "n_control": 4000,
                  "n_boot": 1000},
    },
}


@dataclass(frozen=True)
class RunConfig:
    """What a notebook runs with: profile, source, seed, paths and the profile's typed sections.

    Read a section as ``cfg.<section>.<key>`` (e.g. ``cfg.cvae.epochs``); the sections are frozen
    (:mod:`raregal.core.settings`), so a changed value is a new object: :meth:`with_overrides`.
    """

    profile: str
    source: str
    seed: int
    paths: Paths
    sections: Mapping[str, settings.Section] = field(default_factory=dict)

    def __getattr__(self, name: str) -> settings.Section:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"RunConfig has no section {name!r}; sections: {sorted(sections)}")

    def with_overrides(self, **overrides: dict[str, Any]) -> RunConfig:
        """This run with some keys of some sections replaced, e.g. ``with_overrides(cvae={"epochs": 3})``.

        Unknown sections or keys are a :class:`ConfigError`; nothing is re-seeded and no folder made.
        """
        for name in overrides:
            if name not in self.sections:
                raise ConfigError(f"unknown section {name!r}; sections: {sorted(self.sections)}")
        sections = {name: section.with_overrides(**overrides.get(name, {}))
                    for name, section in self.sections.items()}
        return replace(self, sections=settings.Sections(sections))

    def data_dir(self, stage: str, *parts: str) -> Path:
        """``data/<stage>/<source>-<profile>/<parts>``: mock and real, smoke and default never mix.

        ``stage`` is ``interim`` (surveys as generated or downloaded), ``processed`` (analysis-ready
        arrays) or ``models`` (checkpoints). Raw downloads live in ``paths.raw``, shared by profiles.
        """
        if stage not in ("interim", "processed", "models"):
            raise ConfigError(f"unknown data stage {stage!r}; use interim, processed or models")
        return getattr(self.paths, stage) / run_name(self.source, self.profile) / Path(*parts)

    def describe(self, *names: str) -> str:
        """One line per section, for the notebook to print (sizes used by this run)."""
        lines = [f"profile={self.profile} source={self.source} seed={self.seed}"]
        for n in names or sorted(self.sections):
            if n not in self.sections:
                raise ConfigError(f"unknown section {n!r}; sections: {sorted(self.sections)}")
            lines.append(f"  {n}: {self.sections[n].describe()}")
        return "\n".join(lines)


def validate(profile: str, source: str, seed: Any) -> int:
    """Check the run parameters; the seed as an int in [0, 2**32) (numpy's global seed range)."""
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
    if seed_int >= 2**32:
        raise ConfigError(f"seed must be < 2**32 (numpy's limit), got {seed_int}")
    return seed_int


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``n`` torch CPU threads (None or 0: unchanged), restoring the count afterwards.

    Small CPU nets on a machine whose cores are busy run far faster on one thread, because OpenMP
    workers spin-wait for a busy core (measured: docs/decisions.md).
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
          overrides: Mapping[str, Mapping[str, Any]] | None = None, make_dirs: bool = True) -> RunConfig:
    """Validate the run parameters, build the profile's sections, seed every generator, make folders.

    Parameters
    ----------
    profile, source : str
        smoke | default | paper; mock | real.
    seed : int
        Seed of ``random``, NumPy's global generator and torch, in [0, 2**32).
    overrides : mapping, optional
        section → key → value replacing the profile's value (a notebook parameter); unknown sections
        or keys, and values of the wrong type, are a :class:`ConfigError`.
    make_dirs : bool
        Create the output folders under the repository root.
    """
    seed_int = validate(profile, source, seed)
    sections = settings.build_sections(SECTIONS, profile, overrides)
    paths = Paths(repo_root(), run_name(source, profile))
    if make_dirs:
        paths.ensure()
    seed_everything(seed_int)
    plotting.use_style()  # one figure style for every notebook (matplotlib reads it when a figure is made)
    return RunConfig(profile=profile, source=source, seed=seed_int, paths=paths, sections=sections)


def require(path: Path | str, made_by: str) -> Path:
    """Return ``path`` if it exists, else fail naming the notebook that makes it."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(
            f"missing input {p}: run notebook {made_by} first "
            f"(./run_all.sh --only {made_by[:2]}) with the same profile and source")
    return p
