"""Generate galaxies from a fine-tuned pipeline: text-to-image, or from a noised reference image.

Ma et al. 2025 (§2) sample with EulerAncestralDiscreteScheduler (β 0.00085–0.012, scaled_linear),
guidance 6.5, 40 steps, and start from a noised reference image to tame the over-brightness of pure
text-to-image (img2img with ``strength`` = the fraction of the schedule that is re-run). Each image has
its own seeded generator, so an image depends on (prompt, seed, reference) only, never on the batch it
ran in. Images go to disk as PNG with a ``metadata.csv`` row each.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from raregal.core.images import resize
from raregal.paper_b.diffusion.checkpoints import components_at
from raregal.paper_b.diffusion.components import Components, compute_device
from raregal.paper_b.diffusion.prompts import parse_weighted_prompt, weighted_embeddings
from raregal.paper_b.diffusion.vae import to_model_range

GUIDANCE = 6.5
INFERENCE_STEPS = 40


@dataclass(frozen=True)
class Request:
    """One image to make: a (weighted) prompt, its seed, optionally a reference image and a label."""

    prompt: str
    seed: int
    reference: np.ndarray | None = None  # (H, W, 3) uint8 or float [0, 1]
    reference_id: object = None
    key: str = ""  # groups images (e.g. Table 1 letter); part of the file name


def make_pipelines(comps: Components, device: str | torch.device | None = None):
    """(text-to-image, img2img) StableDiffusion pipelines sharing the components, Euler-ancestral sampler,
    on ``device`` (default: CUDA when present). Seeds stay CPU generators, so an image does not depend
    on the device beyond floating-point rounding."""
    from diffusers import (
        EulerAncestralDiscreteScheduler,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionPipeline,
    )

    sampler = EulerAncestralDiscreteScheduler.from_config(comps.noise_scheduler.config)
    parts = dict(unet=comps.unet.eval(), vae=comps.vae.eval(), text_encoder=comps.text_encoder.eval(),
                 tokenizer=comps.tokenizer, scheduler=sampler, safety_checker=None,
                 feature_extractor=None, requires_safety_checker=False)
    txt = StableDiffusionPipeline(**parts)
    img = StableDiffusionImg2ImgPipeline(**parts)
    txt.to(compute_device(device))  # the modules are shared, so img2img moves with it
    for p in (txt, img):
        p.set_progress_bar_config(disable=True)
    return txt, img


def load_pipelines(model_dir: Path | str, step: int | str | None = None, use_ema: bool = True,
                   device: str | torch.device | None = None):
    """Pipelines of a fine-tune in ``model_dir`` at ``checkpoint-{step}`` or the final ``pipeline/``."""
    comps = components_at(model_dir, step, use_ema=use_ema)
    return (*make_pipelines(comps, device), comps.info.get("checkpoint_step"))


def _embeds(pipe, prompts: Sequence[str]) -> torch.Tensor:
    cache: dict[str, torch.Tensor] = {}
    out = []
    for p in prompts:
        if p not in cache:
            cache[p] = weighted_embeddings(p, pipe.tokenizer, pipe.text_encoder)
        out.append(cache[p])
    return torch.cat(out)


def _references(batch: Sequence[Request], size: int) -> np.ndarray:
    x = to_model_range(np.stack([np.asarray(r.reference) for r in batch]))
    x = resize(x, size)
    return ((x.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()  # (B, H, W, 3) in [0, 1]


def _batches(requests: Sequence[Request], batch_size: int) -> list[list[int]]:
    """Request indices in batches of ``batch_size``, img2img first; a batch never mixes img2img and
    text-to-image requests (the two pipelines take different arguments)."""
    order = sorted(range(len(requests)), key=lambda i: requests[i].reference is None)
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [c2 for c in chunks for c2 in ([i for i in c if requests[i].reference is not None],
                                          [i for i in c if requests[i].reference is None]) if c2]


@torch.no_grad()
def generate(pipes, requests: Sequence[Request], out_dir: Path | str | None = None,
             guidance: float = GUIDANCE, steps: int = INFERENCE_STEPS, strength: float = 0.8,
             batch_size: int = 16, checkpoint_step=None, progress: bool = True,
             name_prefix: str = "gen") -> tuple[np.ndarray, pd.DataFrame]:
    """Make one image per request (uint8 (N, H, W, 3)) and a metadata table; write PNGs + metadata.csv
    into ``out_dir`` when given. Requests with a reference run img2img at ``strength``."""
    from PIL import Image
    from tqdm.auto import tqdm

    txt, img2img = pipes
    if not requests:
        raise ValueError("no generation requests")
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    for r in requests:
        parse_weighted_prompt(r.prompt)  # fail before any compute on a malformed prompt
    size = txt.unet.config.sample_size * txt.vae_scale_factor
    uncond_cache = None
    images, rows = [], []
    by_index: dict[int, np.ndarray] = {}
    for chunk in tqdm(_batches(requests, batch_size), desc="generate", disable=not progress):
        batch = [requests[i] for i in chunk]
        embeds = _embeds(txt, [r.prompt for r in batch])
        if uncond_cache is None:
            uncond_cache = weighted_embeddings("", txt.tokenizer, txt.text_encoder)
        neg = uncond_cache.expand(len(batch), -1, -1)
        gens = [torch.Generator().manual_seed(int(r.seed)) for r in batch]
        common = dict(prompt_embeds=embeds, negative_prompt_embeds=neg, guidance_scale=guidance,
                      num_inference_steps=steps, generator=gens, output_type="np")
        if batch[0].reference is not None:
            out = img2img(image=_references(batch, size), strength=strength, **common).images
        else:
            out = txt(height=size, width=size, **common).images
        for i, im in zip(chunk, out):
            by_index[i] = (np.clip(im, 0, 1) * 255).round().astype(np.uint8)
    out_path = Path(out_dir) if out_dir is not None else None
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(requests):
        im = by_index[i]
        images.append(im)
        wp = parse_weighted_prompt(r.prompt)
        fname = f"{name_prefix}-{r.key + '-' if r.key else ''}{i:05d}.png"
        if out_path is not None:
            Image.fromarray(im).save(out_path / fname)
        rows.append({"file": fname, "key": r.key, "prompt": r.prompt, "prompt_text": wp.text,
                     "weights": ";".join(f"{k}:{v:g}" for k, v in wp.weights.items()),
                     "seed": r.seed, "reference_id": r.reference_id,
                     "mode": "img2img" if r.reference is not None else "text2img",
                     "strength": strength if r.reference is not None else np.nan,
                     "guidance": guidance, "steps": steps, "checkpoint_step": checkpoint_step})
    meta = pd.DataFrame(rows)
    if out_path is not None:
        from raregal.core.outputs import atomic_path

        with atomic_path(out_path / "metadata.csv") as tmp:
            meta.to_csv(tmp, index=False)
    return np.stack(images), meta


def generate_for_prompt(model_dir: Path | str, prompt: str, n: int, step: int | str | None = None,
                        seed: int = 0, references: np.ndarray | None = None,
                        reference_ids: Sequence | None = None, out_dir: Path | str | None = None,
                        use_ema: bool = True, **kwargs) -> tuple[np.ndarray, pd.DataFrame]:
    """N images for one prompt from a fine-tune (``step`` = checkpoint, None = final pipeline): the call
    other notebooks use. With ``references`` (cycled), each image starts from a noised reference."""
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    pipes = load_pipelines(model_dir, step, use_ema)
    refs = [None] * n
    ref_ids = [None] * n
    if references is not None:
        if len(references) == 0:
            raise ValueError("references is empty")
        refs = [references[k % len(references)] for k in range(n)]
        if reference_ids is not None:
            ref_ids = [reference_ids[k % len(reference_ids)] for k in range(n)]
    reqs = [Request(prompt, seed + k, refs[k], ref_ids[k]) for k in range(n)]
    return generate(pipes[:2], reqs, out_dir=out_dir, checkpoint_step=pipes[2], **kwargs)


def plot_prompt_grid(fig, letters: Sequence[str], real: dict, generated: dict, titles: dict | None = None,
                     source: str = "mock"):
    """Ma et al. 2025 Fig. 3 layout: one column per prompt letter, the survey's image on top (blank when
    none), the generated images below. ``real[letter]`` is (H, W, 3) or None, ``generated[letter]``
    (k, H, W, 3); ``source`` (mock | real) names the top row's data."""
    k = max(len(generated[x]) for x in letters)
    axes = fig.subplots(k + 1, len(letters), squeeze=False, gridspec_kw={"wspace": 0.04, "hspace": 0.04})
    for j, letter in enumerate(letters):
        column = [real.get(letter)] + list(generated[letter])
        for i, ax in enumerate(axes[:, j]):
            ax.set_xticks([])
            ax.set_yticks([])
            im = column[i] if i < len(column) else None
            if im is not None:
                ax.imshow(im, interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=7, color="0.5",
                        transform=ax.transAxes)
            if i == 0:
                ax.set_title((titles or {}).get(letter, letter), fontsize=9)
                for s in ax.spines.values():
                    s.set_edgecolor("tab:orange")
                    s.set_linewidth(2)
    axes[0, 0].set_ylabel(f"{source}\ngalaxy", fontsize=8)
    for i in range(1, k + 1):
        axes[i, 0].set_ylabel(f"generated\n{i}", fontsize=8)
    return axes


def brightness_table(sets: dict[str, np.ndarray]) -> pd.DataFrame:
    """Mean pixel value (0–1) of each uint8 image set. Ma et al. 2025 (§2) find text-to-image samples
    systematically over-bright and starts from noised references to fix it; this measures it."""
    rows = []
    for method, ims in sets.items():
        per_image = np.asarray(ims, np.float64).reshape(len(ims), -1).mean(axis=1) / 255.0
        rows.append({"method": method, "quantity": "mean pixel value", "ours": float(per_image.mean()),
                     "paper": np.nan, "std": float(per_image.std()), "n": len(per_image)})
    return pd.DataFrame(rows)


def paired_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pair RMS pixel difference (0–1 scale) of uint8 images made with the same seeds from two
    prompts: how far changing the prompt moves the sample (0 = the change is ignored)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"paired image sets must have the same (N, H, W, 3) shape, got {a.shape} and {b.shape}")
    return np.sqrt((((a - b) / 255.0) ** 2).reshape(len(a), -1).mean(axis=1))


def prompt_pairs(pipes, pairs: dict[str, tuple[str, str]], n_seeds: int, **kwargs):
    """Generate each pair's two prompts with the same seeds 0..n_seeds-1 (text-to-image). Returns
    {name: (images_a, images_b)} and a table of the mean paired RMS difference per pair: a phrase the
    model learned changes the image by about as much as a coarse change does; an ignored one by ~0."""
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be ≥ 1, got {n_seeds}")
    requests = [Request(p, s, key=f"{name}|{side}") for name, pair in pairs.items()
                for side, p in zip("ab", pair) for s in range(n_seeds)]
    images, meta = generate(pipes, requests, **kwargs)
    keys = meta.key.to_numpy()
    out, rows = {}, []
    for name, (prompt_a, prompt_b) in pairs.items():
        a, b = images[keys == f"{name}|a"], images[keys == f"{name}|b"]
        out[name] = (a, b)
        d = paired_difference(a, b)
        rows.append({"pair": name, "quantity": "paired RMS pixel difference", "ours": float(d.mean()),
                     "paper": np.nan, "std": float(d.std()), "n": len(d), "prompt_a": prompt_a,
                     "prompt_b": prompt_b})
    return out, pd.DataFrame(rows)


def plot_prompt_pairs(fig, images: dict, table: pd.DataFrame):
    """Two rows per pair (prompt a above prompt b, same seed per column), labelled with the prompts and
    the pair's mean paired difference."""
    n_rows = 2 * len(images)
    n_cols = max(len(a) for a, _ in images.values())
    label_in = 3.6  # inches left of the images for the prompt labels
    axes = fig.subplots(n_rows, n_cols, squeeze=False, gridspec_kw={"wspace": 0.04, "hspace": 0.08})
    fig.subplots_adjust(left=min(0.6, label_in / fig.get_figwidth()), right=0.98, top=0.95, bottom=0.02)
    info = table.set_index("pair")
    for k, (name, pair) in enumerate(images.items()):
        for side, ims in enumerate(pair):
            row = axes[2 * k + side]
            for j, ax in enumerate(row):
                ax.set_xticks([])
                ax.set_yticks([])
                if j < len(ims):
                    ax.imshow(ims[j], interpolation="nearest")
            prompt = info.loc[name, "prompt_a" if side == 0 else "prompt_b"]
            label = f"{name}  (Δ {info.loc[name, 'ours']:.3f})\n" if side == 0 else "\n"
            row[0].set_ylabel(label + prompt, rotation=0, ha="right", va="center", fontsize=7)
    return axes
