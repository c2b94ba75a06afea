"""Typed, frozen settings: one dataclass per config section, built and checked in one place.

``config.SECTIONS`` gives each section's values per profile; :func:`build_sections` turns them into the
dataclasses below, so a key no section knows, a missing key or a value of the wrong type fails when a
run starts (and in the tests, for every profile) instead of being dropped or surfacing mid-run.
Read a section as ``cfg.<section>.<key>``; change one with ``section.with_overrides(key=value)``, which
rejects unknown keys the same way. Why a profile holds the value it holds: ``docs/decisions.md``.
"""
from __future__ import annotations

import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A run parameter (profile, source, seed, override) is not valid."""


class Section:
    """What every section's settings can do: copy with overrides, list and describe their values."""

    name: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        """Keys and values in declaration order (the order :meth:`describe` prints)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())

    def with_overrides(self, **values: Any) -> Section:
        """A copy with ``values`` replaced; an unknown key or a wrongly typed value is a ConfigError."""
        return build_section(self.name, {**self.as_dict(), **values}, unknown=set(values))


# One short line per key; paper values and the reasons for the profile values are in docs/decisions.md.

@dataclass(frozen=True)
class SurveyASettings(Section):
    """Paper A mock grz survey (Gagliano & Villar 2023 §2)."""

    name: ClassVar[str] = "survey_a"
    n_normal: int  # normal galaxies
    n_green_pea: int  # Green Peas (rare class)
    n_red_spiral: int  # passive Red Spirals (rare class)
    bad_fraction: float  # cutouts spoiled on purpose (missing band, neighbour, saturated star)


@dataclass(frozen=True)
class PreprocessSettings(Section):
    """Paper A preprocessing (Gagliano & Villar 2023 §2, eq. 1, orientations)."""

    name: ClassVar[str] = "preprocess"
    beta: float  # eq. 1 stretch
    size: int  # output cutout side [px]
    max_drop_fraction: float  # more drops than this fraction is an error
    orientation_method: str  # "fast" (batched moments) or "photutils" (the paper's recipe)
    n_photutils_check: int  # galaxies also measured with photutils to report the agreement


@dataclass(frozen=True)
class CvaeSettings(Section):
    """Paper A CVAE training (Gagliano & Villar 2023 §2)."""

    name: ClassVar[str] = "cvae"
    epochs: int  # passes over the training galaxies
    batch_size: int  # galaxies per Adam step
    lr: float  # learning rate (peak lr for onecycle/cosine)
    latent_dim: int  # latent dimensions (the first is orientation)
    channels: tuple[int, ...]  # (enc1, enc2) widths of the authors' topology
    beta0: float  # weight of the KL term
    beta1: float  # weight of the physics (χ²) term
    z_err_floor: float  # σ floor for spectroscopic redshifts
    periodic_variant: bool  # also train a physics CVAE with the periodic-safe orientation loss
    augment: bool  # dihedral flips with the orientation moved along (the paper has none)
    schedule: str  # "constant" (paper), "onecycle" or "cosine", per step


@dataclass(frozen=True)
class AnomaliesSettings(Section):
    """Paper A anomaly recovery, neighbours and encoding speed (Gagliano & Villar 2023 §3, Fig. 3)."""

    name: ClassVar[str] = "anomalies"
    n_trials: int  # stratified RBF-SVM + SMOTE trials
    n_neighbours: int  # look-alikes per anomaly (Fig. 3)
    timing_batches: tuple[int, ...]  # batch sizes of notebook 06's encoding benchmark
    timing_galaxies: int  # galaxies encoded per batch size
    scale_galaxies: int  # galaxies of notebook 06's survey-scale run (python -m raregal.infer, 1 and 2 workers)
    scale_shard_size: int  # galaxies per shard (one Dask task) in that run


@dataclass(frozen=True)
class SurveyBSettings(Section):
    """Paper B mock GZ2 survey (Ma et al. 2025 §3.1; Willett et al. 2013)."""

    name: ClassVar[str] = "survey_b"
    n_galaxies: int  # galaxies in the survey
    image_size: int  # image side [px]
    fov_r90: float  # field of view in units of R90 (GZ2: 8.48)
    detg_fraction: float  # fraction of true dust-lane early types
    detg_lane_depth: float  # their lanes' optical depth relative to the other lanes' (mock; 1: the same)


@dataclass(frozen=True)
class LabelsSettings(Section):
    """Paper B tags and balancing (Ma et al. 2025 §3.1; Hart et al. 2016 votes)."""

    name: ClassVar[str] = "labels"
    tag_cap: int  # at most this many galaxies per tag combination
    gallery_per_tag: int  # images per tag in notebook 07's gallery


@dataclass(frozen=True)
class DiffusionSettings(Section):
    """Paper B diffusion fine-tune and sampling (Ma et al. 2025 §2). None: not used by that base."""

    name: ClassVar[str] = "diffusion"
    pretrained: str  # "tiny" (built here, VAE pre-trained vae_steps), a kept base models/<name>, an SD-1.5 hub id or folder
    resolution: int  # training and sampling image side [px]
    vae_channels: tuple[int, ...] | None  # tiny VAE widths (len − 1 halvings to the latents)
    unet_channels: tuple[int, ...] | None  # tiny UNet widths per level
    cross_attention_levels: tuple[bool, ...] | None  # tiny UNet: cross-attention per level
    text_hidden: int | None  # tiny text encoder width
    text_layers: int | None  # tiny text encoder depth
    text_heads: int | None  # tiny text encoder attention heads
    max_length: int  # caption tokens incl. BOS/EOS
    vae_steps: int | None  # tiny VAE pre-training steps on the survey images
    vae_batch_size: int | None  # tiny VAE pre-training batch
    vae_lr: float | None  # tiny VAE pre-training learning rate
    max_images: int | None  # training images (None: all tagged galaxies)
    steps: int  # fine-tune steps
    batch_size: int  # images per step
    lr_per_sample: float  # peak lr = lr_per_sample × batch
    warmup_steps: int  # linear warm-up steps
    checkpoint_every: int  # steps between checkpoints
    checkpoints_total_limit: int | None  # None keeps every checkpoint (notebook 10 reads them)
    ema_decay: float  # EMA decay of the exported weights
    uncond_prob: float  # captions dropped so guidance has an unconditional branch
    snr_gamma: float | None  # min-SNR-γ loss weights (None: plain ε-MSE, the paper)
    tag_balance: float  # α of the (1 / count of the rarest tag)^α image draws (0: uniform, the paper)
    inference_steps: int  # sampler steps
    guidance: float  # classifier-free guidance scale
    strength: float  # img2img fraction re-run from a noised reference (paper: not stated)
    n_per_prompt: int  # generated images per Table 1 prompt (Fig. 3)


@dataclass(frozen=True)
class SimclrSettings(Section):
    """Paper B SimCLR embedding (Ma et al. 2025 App. A)."""

    name: ClassVar[str] = "simclr"
    epochs: int  # passes over the training galaxies
    batch_size: int  # images per step (2 views each)
    image_size: int  # view side [px]
    width: float  # ResNet-18 channel multiplier (1.0 = paper)
    n_train: int | None  # galaxies SimCLR trains on (None: all)
    pretrained: str | None  # None: random init; a kept base models/<name>; or a transformers ResNet-18
    lr: float  # Adam learning rate (paper 1e-3; lower to fine-tune a base without forgetting it)
    n_tsne: int  # points in Fig. A2


@dataclass(frozen=True)
class MetricsSettings(Section):
    """Paper B realism, diversity and consistency (Ma et al. 2025 §4.1)."""

    name: ClassVar[str] = "metrics"
    n_per_prompt: int  # text-to-image samples per Table 1 prompt and checkpoint
    inference_steps: int  # sampler steps for them
    holdout_fraction: float  # real galaxies held out as the ceiling ("generated" by nature)
    max_real_per_condition: int | None  # cap on those per prompt (None: no cap)
    min_positives: int  # rarer answer needed to fit a visual-question classifier
    batch_size: int  # images per sampling batch


@dataclass(frozen=True)
class ClassifiersSettings(Section):
    """Paper B classifiers with synthetic augmentation (Ma et al. 2025 §4.2, Table 2)."""

    name: ClassVar[str] = "classifiers"
    mode: str  # "finetune" (whole ResNet-18, crop/rotation/flip; the paper) or "frozen" (SimCLR + head)
    width: float | None  # ResNet-18 channel multiplier (None: the encoder's)
    image_size: int | None  # input side [px] (None: the encoder's)
    n_views: int  # views per image embedded in frozen mode (view 0 plain)
    n_negatives: int  # random negatives per task
    epochs: int  # passes over the training set
    batch_size: int  # images per step
    lr: float  # learning rate
    n_seeds: int  # repeats with consecutive seeds
    n_synthetic: int  # generated positives added per task
    synthetic_steps: int  # sampler steps for them
    synthetic_strength: float  # img2img strength for them


@dataclass(frozen=True)
class DetgSettings(Section):
    """Paper B dust-lane early-type task and search (Ma et al. 2025 §4.3, Table 3; §5, Fig. 9)."""

    name: ClassVar[str] = "detg"
    n_negatives: int  # random galaxies beside the known D-ETGs (Table 3)
    positive_ratio: float  # positives : negatives of the Table 3 task
    n_seeds: int  # repeats with consecutive seeds
    few_known: int | None  # known D-ETGs left in Table 3's training splits for B-table3-few-known
    n_synthetic: int  # synthetic D-ETGs in the search's training set
    synthetic_guidance: float | None  # classifier-free guidance of the synthetic D-ETGs (None: diffusion's)
    synthetic_strength: float | None  # img2img strength of the synthetic D-ETGs (None: classifiers')
    lane_weight: float  # weight of "dust lane" in the prompts of Fig. 7 (paper: 1.3, with SD-1.5)
    classifier_mode: str | None  # Table 3 and search classifiers' mode (None: classifiers.mode)
    search_negatives: int  # random galaxies in the search's training set
    n_rounds: int  # search rounds
    max_candidates: int | None  # candidates vetted per round (None: all flagged)
    reviewer_miss_rate: float  # one of 3 simulated reviewers misses a true D-ETG (mock)
    reviewer_false_yes_rate: float  # one of 3 simulated reviewers accepts a non-D-ETG (mock)
    n_control: int  # z/M*-matched control early types
    n_boot: int  # bootstrap resamples for the CDF bands


SECTION_TYPES: Mapping[str, type[Section]] = MappingProxyType({cls.name: cls for cls in (
    SurveyASettings, PreprocessSettings, CvaeSettings, AnomaliesSettings, SurveyBSettings, LabelsSettings,
    DiffusionSettings, SimclrSettings, MetricsSettings, ClassifiersSettings, DetgSettings)})


class Sections(Mapping):
    """Section name → its frozen settings, read-only (and picklable, unlike ``MappingProxyType``)."""

    def __init__(self, sections: Mapping[str, Section]):
        self._sections = dict(sections)

    def __getitem__(self, name: str) -> Section:
        return self._sections[name]

    def __iter__(self):
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)

    def __repr__(self) -> str:
        return f"Sections({self._sections!r})"


def _conform(value: Any, hint: Any) -> Any:
    """``value`` checked against a field's type (lists become tuples); TypeError when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _conform(value, arg)
            except TypeError:
                pass
        raise TypeError
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise TypeError
        return tuple(_conform(v, args[0]) for v in value)
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
          float: lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}[hint]
    if not ok(value):
        raise TypeError
    return value


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)


def build_section(name: str, values: Mapping[str, Any], where: str = "",
                  unknown: set[str] | None = None) -> Section:
    """The typed settings of section ``name`` from its ``values`` (every key, nothing else).

    ``where`` (e.g. " (profile 'paper')") is added to error messages; ``unknown`` restricts the
    unknown-key check to the keys a caller supplied (all keys when None).
    """
    if name not in SECTION_TYPES:
        raise ConfigError(f"unknown section {name!r}; sections: {sorted(SECTION_TYPES)}")
    cls = SECTION_TYPES[name]
    known = [f.name for f in fields(cls)]
    extra = set(values if unknown is None else unknown) - set(known)
    if extra:
        raise ConfigError(f"unknown keys for section {name!r}{where}: {sorted(extra)}; "
                          f"known: {sorted(known)}")
    missing = [k for k in known if k not in values]
    if missing:
        raise ConfigError(f"section {name!r}{where} lacks keys {missing}")
    hints = typing.get_type_hints(cls)
    checked = {}
    for key in known:
        try:
            checked[key] = _conform(values[key], hints[key])
        except TypeError:
            raise ConfigError(f"section {name!r}{where}: {key} must be {_type_name(hints[key])}, got "
                              f"{values[key]!r} ({type(values[key]).__name__})") from None
    return cls(**checked)


def build_sections(table: Mapping[str, Mapping[str, Mapping[str, Any]]], profile: str,
                   overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Sections:
    """Every section of ``profile`` from ``table[section][profile]``, with ``overrides`` applied.

    Parameters
    ----------
    table : mapping
        ``config.SECTIONS``: section name → profile → key → value.
    profile : str
        smoke | default | paper.
    overrides : mapping, optional
        section name → key → value, e.g. a notebook parameter; unknown sections or keys are errors.

    Returns
    -------
    Sections
        Read-only, section name → its frozen settings, in ``table`` order.
    """
    if set(table) != set(SECTION_TYPES):
        raise ConfigError(f"config sections {sorted(table)} differ from the typed sections "
                          f"{sorted(SECTION_TYPES)}")
    overrides = overrides or {}
    for name in overrides:
        if name not in table:
            raise ConfigError(f"unknown section {name!r}; sections: {sorted(table)}")
    out = {}
    for name, by_profile in table.items():
        if profile not in by_profile:
            raise ConfigError(f"section {name!r} has no values for profile {profile!r}")
        section = build_section(name, by_profile[profile], where=f" (profile {profile!r})")
        out[name] = section.with_overrides(**overrides.get(name, {}))
    return Sections(out)
