"""Ma et al. (2025) Fig. 4 and 5's data: the eq. 1–6 metrics of every fine-tune checkpoint, kept on disk.

Generating images is the expensive step (minutes per checkpoint on a CPU); scoring them and drawing the
figures are cheap. :func:`score_checkpoints` therefore writes, per checkpoint, the images it scored and
their per-prompt scores to ``<out_dir>/step-<k>/`` together with the inputs that made them, and a rerun
reuses what still holds:

- same checkpoint files (size and modification time of every file the step loads) and the same
  :class:`GenerationSettings` → the saved images are used, nothing is generated;
- and the same :class:`Scorer` (SimCLR weights, visual-question classifiers, the whitened space and
  reference galaxies, expected answers) → the saved scores are used too.

So restyling Fig. 4 or 5 regenerates no image, a retrained checkpoint regenerates that checkpoint only,
and a retrained SimCLR encoder rescores the saved images without generating them again.

Files of one step: ``images.npz`` (uint8 ``images`` (N, H, W, 3), ``condition`` per image),
``metrics.parquet`` (one row per scored condition: method, condition, realism, diversity, consistency,
n_real, n_gen, step), ``skipped.parquet`` (conditions that could not be scored, with the reason),
``inputs.json`` (the inputs, their keys and the generation's wall time).
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from raregal.core.outputs import atomic_path
from raregal.paper_b.gen_metrics import QuestionClassifiers, score_set
from raregal.paper_b.metric_space import VARIANCE_KEPT, WhitenedSpace

INPUTS_FILE = "inputs.json"
IMAGES_FILE = "images.npz"
METRICS_FILE = "metrics.parquet"
SKIPPED_FILE = "skipped.parquet"
CACHE_FORMAT = 1  # bump when the files or the way they are made change, so old ones are remade
SCORING_FORMAT = 2  # bump when the way saved images are scored changes (rescores, regenerates nothing)


# ---------------------------------------------------------------------------------------------
# what is generated, and from which checkpoint
# ---------------------------------------------------------------------------------------------
def fine_tune_steps(diffusion_dir) -> list[int]:
    """Steps to score: 0 (the base model before fine-tuning, when its folder exists) and every
    ``checkpoint-{step}/`` of the fine-tune in ``diffusion_dir`` (notebook 08)."""
    from raregal.core.config import require
    from raregal.paper_b.diffusion.checkpoints import base_of, list_checkpoints

    diffusion_dir = Path(diffusion_dir)
    require(diffusion_dir / "finetune.json", made_by="08_finetune_diffusion")
    steps = [s for s, _ in list_checkpoints(diffusion_dir)]
    if not steps:
        raise FileNotFoundError(f"no checkpoint-*/ in {diffusion_dir}: run 08_finetune_diffusion")
    return ([0] if (Path(base_of(diffusion_dir)) / "model_index.json").exists() else []) + steps


def generate_for_conditions(diffusion_dir, step: int, prompts: Mapping[str, str], n_per_prompt: int,
                            inference_steps: int, seed: int = 0, batch_size: int = 32,
                            guidance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Text-to-image samples, ``n_per_prompt`` per condition, from ``checkpoint-{step}`` (0 = base).

    Pure text-to-image (no reference image): everything that makes an image fit its condition must
    come from the prompt. Seeds depend on (seed, image number) only, so each checkpoint is asked for
    the same images. Returns uint8 (N, H, W, 3) and the condition of each image.
    """
    from raregal.paper_b.diffusion import generate
    from raregal.paper_b.diffusion.checkpoints import base_of
    from raregal.paper_b.diffusion.components import load_components

    if n_per_prompt < 1:
        raise ValueError(f"n_per_prompt must be >= 1, got {n_per_prompt}")
    if step == 0:
        pipes = generate.make_pipelines(load_components(base_of(diffusion_dir)))
    else:
        pipes = generate.load_pipelines(diffusion_dir, step)[:2]
    reqs = [generate.Request(prompt, seed=seed * 100_000 + k, key=cond)
            for cond, prompt in prompts.items() for k in range(n_per_prompt)]
    images, meta = generate.generate(pipes, reqs, steps=inference_steps, batch_size=batch_size,
                                     guidance=generate.GUIDANCE if guidance is None else guidance,
                                     checkpoint_step=step, progress=False)
    return images, meta["key"].to_numpy(dtype=object)


@dataclass(frozen=True)
class GenerationSettings:
    """What :func:`generate_for_conditions` is asked for at every checkpoint (condition → prompt)."""

    prompts: Mapping[str, str]
    n_per_prompt: int
    inference_steps: int
    seed: int = 0
    batch_size: int = 32
    guidance: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (they are part of a step's saved inputs)."""
        return {**asdict(self), "prompts": dict(self.prompts)}


def _file_stats(folder: Path) -> list[list]:
    """(path relative to ``folder``, bytes, modification time in ns) of every file below it, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [[p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns]
            for p in sorted(folder.rglob("*")) if p.is_file()]


def generation_inputs(diffusion_dir, step: int, settings: GenerationSettings) -> dict[str, Any]:
    """Everything the images of ``step`` depend on: the settings, the base named in finetune.json, and
    the size and modification time of every file of the base folder (none for a hub id) and of
    ``checkpoint-{step}/`` (none for step 0, the base alone) — a rewritten checkpoint counts as changed."""
    from raregal.paper_b.diffusion.checkpoints import base_of

    diffusion_dir = Path(diffusion_dir)
    return {"format": CACHE_FORMAT, "step": int(step), "settings": settings.as_dict(),
            "base": json.loads((diffusion_dir / "finetune.json").read_text())["base"],
            "base_files": _file_stats(Path(base_of(diffusion_dir))),
            "checkpoint_files": _file_stats(diffusion_dir / f"checkpoint-{step}") if step else []}


def _digest(*parts: Any) -> str:
    """sha256 of JSON values and numpy arrays, in order (arrays by dtype, shape and bytes)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(f"{arr.dtype}{arr.shape}".encode())
            h.update(arr.tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------
def embed_and_answer(model, images: np.ndarray, classifiers: QuestionClassifiers,
                     batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """SimCLR features and visual-question answers of uint8 (N, H, W, 3) or float (N, 3, H, W) images."""
    from raregal.paper_b.simclr import embed

    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 3 and x.shape[1] != 3:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    with warnings.catch_warnings():  # generated images are resized to the encoder's size on purpose
        warnings.filterwarnings("ignore", message="resizing")
        feats = embed(model, x, batch_size=batch_size)
    return feats, classifiers.predict(feats)


def _estimator_arrays(estimator) -> list:
    """The fitted arrays of a scikit-learn estimator or pipeline (coefficients, scaler means, …)."""
    if hasattr(estimator, "steps"):
        return [a for _, step in estimator.steps for a in _estimator_arrays(step)]
    return [[k, np.asarray(v)] for k, v in sorted(vars(estimator).items()) if isinstance(v, np.ndarray)]


def projections(model, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """SimCLR projections z (N, proj_dim) from trunk features (N, feature_dim): the head of ``model``.

    The embedding NT-Xent took cosine similarities in during training (Ma et al. 2025 Appendix A
    writes it f_φ, the symbol of eq. 1), so its cosine is the one SimCLR gave a meaning to.
    """
    import torch

    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    if x.ndim != 2 or x.shape[1] != model.feature_dim:
        raise ValueError(f"expected trunk features (N, {model.feature_dim}), got shape {tuple(x.shape)}")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = [model.head(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return (torch.cat(out).numpy() if out else np.zeros((0, model.settings.proj_dim))).astype(np.float32)


@dataclass
class Scorer:
    """What generated images are scored against: the SimCLR encoder (notebook 09), the visual-question
    classifiers (on trunk features), the space realism and diversity are taken in (SimCLR projections
    whitened on the real reference galaxies, :mod:`raregal.paper_b.metric_space`), the reference
    galaxies' coordinates in it and condition membership, and the expected answer of each question
    per condition (see :func:`raregal.paper_b.gen_metrics.evaluate`). Build one with :meth:`fit`."""

    model: Any
    classifiers: QuestionClassifiers
    space: WhitenedSpace
    ref_emb: np.ndarray
    ref_member: pd.DataFrame
    expected: pd.DataFrame

    @classmethod
    def fit(cls, model, ref_features: np.ndarray, ref_member: pd.DataFrame, ref_truth: np.ndarray,
            expected: pd.DataFrame, min_positives: int = 10, seed: int = 0,
            variance_kept: float = VARIANCE_KEPT) -> Scorer:
        """Fit the question heads and the whitened space on the real reference galaxies only.

        Parameters
        ----------
        model : SimCLRModel
            The trained encoder (trunk and projection head).
        ref_features : (N, feature_dim) array
            Trunk features of the reference galaxies (:func:`raregal.paper_b.simclr.embed`).
        ref_member : (N × conditions) bool table
            Which condition(s) each reference galaxy belongs to.
        ref_truth : (N, 11) bool
            Their true answers to the visual questions (:func:`raregal.paper_b.gen_metrics.tag_answers`).
        expected : conditions × questions
            The answers each prompt implies; questions whose head could not be fitted become NaN.
        min_positives, seed
            For :meth:`raregal.paper_b.gen_metrics.QuestionClassifiers.fit`.
        variance_kept
            For :meth:`raregal.paper_b.metric_space.WhitenedSpace.fit`.
        """
        if len(ref_features) != len(ref_member):
            raise ValueError(f"{len(ref_features)} reference features but {len(ref_member)} membership rows")
        heads = QuestionClassifiers.fit(ref_features, ref_truth, min_positives=min_positives, seed=seed)
        ref_z = projections(model, ref_features)
        space = WhitenedSpace.fit(ref_z, variance_kept=variance_kept)
        return cls(model, heads, space, space.transform(ref_z), ref_member, heads.mask(expected))

    def metric_embedding(self, features: np.ndarray) -> np.ndarray:
        """Whitened projections (N, k), the space of eq. 1 and 3, from trunk features (N, feature_dim)."""
        return self.space.transform(projections(self.model, features))

    def embed(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whitened projections and visual-question answers of images (see :func:`embed_and_answer`)."""
        feats, answers = embed_and_answer(self.model, images, self.classifiers)
        return self.metric_embedding(feats), answers

    def score_features(self, method: str, emb: np.ndarray, conditions, answers: np.ndarray):
        """Per-condition R, D, C and the skipped conditions of images already in the metric space
        (:meth:`metric_embedding`)."""
        return score_set(method, emb, conditions, answers, self.ref_emb, self.ref_member, self.expected)

    def score_images(self, method: str, images: np.ndarray, conditions):
        """Per-condition R, D, C and the skipped conditions of images (embedded here)."""
        emb, answers = self.embed(images)
        return self.score_features(method, emb, conditions, answers)

    def key(self) -> str:
        """A digest of everything a score depends on besides the images; changes when any of it does."""
        parts: list = [CACHE_FORMAT, SCORING_FORMAT, list(self.classifiers.questions["question"])]
        for name, tensor in self.model.state_dict().items():
            parts += [name, tensor.detach().cpu().float().numpy()]
        for name, head in sorted(self.classifiers.models.items()):
            parts.append(name)
            for attr, arr in _estimator_arrays(head):
                parts += [attr, arr]
        parts += [*self.space.arrays(), np.asarray(self.ref_emb, np.float64), list(self.ref_member.columns),
                  self.ref_member.to_numpy(bool), list(self.expected.index), list(self.expected.columns),
                  self.expected.to_numpy(float)]
        return _digest(*parts)


# ---------------------------------------------------------------------------------------------
# one checkpoint after another, reusing what is saved
# ---------------------------------------------------------------------------------------------
def step_dir(out_dir, step: int) -> Path:
    """Where the images and scores of ``step`` are kept."""
    return Path(out_dir) / f"step-{int(step)}"


def _read_inputs(folder: Path) -> dict[str, Any]:
    path = folder / INPUTS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def read_images(out_dir, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The saved images of ``step`` (uint8 (N, H, W, 3)) and the condition of each."""
    with np.load(step_dir(out_dir, step) / IMAGES_FILE) as f:
        return f["images"], f["condition"].astype(object)


def _write_images(folder: Path, images: np.ndarray, conditions: np.ndarray) -> None:
    with atomic_path(folder / IMAGES_FILE) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, images=np.asarray(images, np.uint8), condition=np.asarray(conditions, str))


def _write_table(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


def score_checkpoint(diffusion_dir, step: int, settings: GenerationSettings, scorer: Scorer,
                     out_dir) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Scores of ``step``'s images: read back, rescored from saved images, or generated and scored.

    Returns (per-condition table with a ``step`` column, skipped table, inputs record) where the record
    says what happened (``status``: "saved", "rescored" or "generated") and how long the generation took
    (``seconds``, from when the images were made). ``inputs.json`` is written last, so an interrupted
    step is redone on the next run.
    """
    folder = step_dir(out_dir, step)
    gen_inputs = generation_inputs(diffusion_dir, step, settings)
    gen_key, score_key = _digest(gen_inputs), scorer.key()
    saved = _read_inputs(folder)
    have_images = saved.get("generation_key") == gen_key and (folder / IMAGES_FILE).exists()
    have_scores = (have_images and saved.get("scoring_key") == score_key
                   and (folder / METRICS_FILE).exists() and (folder / SKIPPED_FILE).exists())
    if have_scores:
        return (pd.read_parquet(folder / METRICS_FILE), pd.read_parquet(folder / SKIPPED_FILE),
                {**saved, "status": "saved"})
    folder.mkdir(parents=True, exist_ok=True)
    if have_images:
        images, conditions = read_images(out_dir, step)
        seconds, status = saved["seconds"], "rescored"
    else:
        t0 = time.perf_counter()
        images, conditions = generate_for_conditions(
            diffusion_dir, step, settings.prompts, settings.n_per_prompt, settings.inference_steps,
            seed=settings.seed, batch_size=settings.batch_size, guidance=settings.guidance)
        seconds, status = time.perf_counter() - t0, "generated"
        _write_images(folder, images, conditions)
    per, skipped = scorer.score_images(f"step {step}", images, conditions)
    per = per.assign(step=step)
    _write_table(per, folder / METRICS_FILE)
    _write_table(skipped, folder / SKIPPED_FILE)
    record = {"generation": gen_inputs, "generation_key": gen_key, "scoring_key": score_key,
              "seconds": seconds, "n_images": int(len(images))}
    with atomic_path(folder / INPUTS_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return per, skipped, {**record, "status": status}


def score_checkpoints(diffusion_dir, steps, settings: GenerationSettings, scorer: Scorer, out_dir,
                      log: Callable[[str], None] = print) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """:func:`score_checkpoint` for every step, in order: (per-condition scores of all steps, skipped
    conditions, generation seconds per step). One line per step goes to ``log``."""
    scores, skips, seconds = [], [], {}
    for step in steps:
        per, skipped, record = score_checkpoint(diffusion_dir, step, settings, scorer, out_dir)
        scores.append(per)
        skips.append(skipped)
        seconds[step] = record["seconds"]
        log(f"step {step}: {record['n_images']} images ({record['status']}), R={per.realism.mean():.3f} "
            f"D={per.diversity.mean():.3f} C={per.consistency.mean():.3f} "
            f"(generation {record['seconds']:.0f} s)")
    return pd.concat(scores, ignore_index=True), pd.concat(skips, ignore_index=True), seconds
