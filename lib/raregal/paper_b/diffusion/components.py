"""The Stable-Diffusion pieces (UNet, VAE, text encoder + tokenizer, noise scheduler), SD-1.5 or tiny.

``pretrained`` is a hub id / local diffusers folder (SD-1.5 layout: unet, vae, text_encoder, tokenizer,
scheduler) or ``"tiny"``: the same classes with small configs built here, so one fine-tune and one
generation code path serve both. The tiny tokenizer is a real byte-level BPE ``CLIPTokenizer`` trained
on the prompt corpus (no download); the tiny VAE is then pre-trained briefly on the survey images
(``vae.pretrain_vae``) so its latents mean something before the diffusion model learns on them.
Everything is written with ``save_pretrained`` (safetensors) as a diffusers folder that
``from_pretrained`` reloads.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
# The noise schedule of SD-1.5 (scaled_linear β from 0.00085 to 0.012 over 1000 steps), which Ma et al.
# 2025 (§2) keep.
SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "steps_offset": 1}


def compute_device(device: str | torch.device | None = None) -> torch.device:
    """The device for VAE encoding and sampling: ``device`` as given, else CUDA when present. SD-1.5's VAE
    and UNet at 424 px take about a second per image on a CPU, so the paper profile must not stay there."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def on_device(module: torch.nn.Module, device: str | torch.device | None = None):
    """Run a block with ``module`` moved to :func:`compute_device`, then move it back where it was."""
    target = compute_device(device)
    home = next(module.parameters()).device
    module.to(target)
    try:
        yield target
    finally:
        module.to(home)


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny pipeline (same topology as SD-1.5: VAE → UNet with cross-attention ← CLIP text)."""

    resolution: int = 32
    vae_channels: tuple[int, ...] = (32, 64, 64)  # 3 levels → latents at resolution / 4
    latent_channels: int = 4
    unet_channels: tuple[int, ...] = (32, 64, 64)
    unet_layers_per_block: int = 1
    # per UNet level: cross-attention or not (None: SD style, every level but the lowest). Attention
    # at the top level costs most on CPU (tokens = latent pixels).
    cross_attention_levels: tuple[bool, ...] | None = None
    attention_head_dim: int = 8
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_length: int = 24  # tokens incl. BOS/EOS; the longest tag prompt is ~20 tokens
    vocab_size: int = 1200  # BPE budget; the trainer stops earlier when every corpus word is one token

    @property
    def latent_size(self) -> int:
        return self.resolution // 2 ** (len(self.vae_channels) - 1)

    def __post_init__(self):
        factor = 2 ** (len(self.vae_channels) - 1)
        if self.resolution % factor:
            raise ValueError(f"resolution {self.resolution} must be a multiple of the VAE factor {factor}")
        if len(self.unet_channels) < 2:
            raise ValueError("unet_channels needs at least two levels")
        if self.cross_attention_levels is not None and (
                len(self.cross_attention_levels) != len(self.unet_channels)
                or not any(self.cross_attention_levels)):
            raise ValueError("cross_attention_levels needs one bool per UNet level, at least one True")

    @property
    def attention_levels(self) -> tuple[bool, ...]:
        if self.cross_attention_levels is not None:
            return tuple(bool(a) for a in self.cross_attention_levels)
        return (True,) * (len(self.unet_channels) - 1) + (False,)


@dataclass
class Components:
    unet: "torch.nn.Module"
    vae: "torch.nn.Module"
    text_encoder: "torch.nn.Module"
    tokenizer: object
    noise_scheduler: object
    info: dict = field(default_factory=dict)

    def save(self, folder: Path | str) -> Path:
        """Write the five sub-folders and a ``model_index.json`` (a loadable diffusers pipeline folder)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(folder / "unet", safe_serialization=True)
        self.vae.save_pretrained(folder / "vae", safe_serialization=True)
        self.text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
        self.tokenizer.save_pretrained(folder / "tokenizer")
        self.noise_scheduler.save_pretrained(folder / "scheduler")
        write_model_index(folder, self)
        (folder / "raregal.json").write_text(json.dumps(self.info, indent=1, default=str))
        return folder


def write_model_index(folder: Path, comps: Components) -> None:
    """The ``model_index.json`` StableDiffusionPipeline.from_pretrained reads (no safety checker)."""
    import diffusers

    def lib_of(obj) -> str:
        return "diffusers" if type(obj).__module__.startswith("diffusers") else "transformers"

    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
             "requires_safety_checker": False, "safety_checker": [None, None],
             "feature_extractor": [None, None], "image_encoder": [None, None]}
    for name, obj in (("unet", comps.unet), ("vae", comps.vae), ("text_encoder", comps.text_encoder),
                      ("tokenizer", comps.tokenizer), ("scheduler", comps.noise_scheduler)):
        index[name] = [lib_of(obj), type(obj).__name__]
    (folder / "model_index.json").write_text(json.dumps(index, indent=1))


# --------------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W\d_]+|\d|[^\s\w]+")


def build_tokenizer(corpus: Iterable[str], max_length: int = 24, vocab_size: int = 1200):
    """A byte-level BPE ``CLIPTokenizer`` (CLIP's normaliser, pre-tokeniser and ``</w>`` suffix) trained on
    ``corpus``. Every word of the corpus becomes one token; unseen words still tokenise (byte fallback).

    The merges are learnt by :func:`bpe_merges`, not by the ``tokenizers`` trainer: that one breaks
    frequency ties in hash order, so each process got other token ids and the text encoder, the
    loss curve and every generated image changed from run to run.
    """
    from tokenizers import Regex, normalizers, pre_tokenizers
    from transformers import CLIPTokenizer

    texts = [str(t) for t in corpus]
    if not texts:
        raise ValueError("build_tokenizer needs a non-empty corpus of prompts")
    normaliser = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                       normalizers.Lowercase()])
    splitter = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                             behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    words = Counter(w for text in texts
                    for w, _ in splitter.pre_tokenize_str(normaliser.normalize_str(text)))
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate([BOS, EOS, *alphabet, *(ch + "</w>" for ch in alphabet)])}
    merges = bpe_merges(words, vocab_size - len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def bpe_merges(words: Counter, n_merges: int) -> list[tuple[str, str]]:
    """Byte-pair merges of ``words`` (pre-tokenised word → count; the last symbol carries ``</w>``).

    The most frequent adjacent pair is merged first; ties go to the pair whose text sorts first, so
    the same corpus always gives the same merges (and token ids). Stops after ``n_merges`` or when
    every word is one symbol.
    """
    split = {w: [*w[:-1], w[-1] + "</w>"] for w in words if w}
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: Counter = Counter()
        for w, symbols in split.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += words[w]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        for w, symbols in split.items():
            i, out = 0, []
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            split[w] = out
    return merges


def corpus_words(texts: Iterable[str]) -> list[str]:
    """Lower-case words of ``texts`` as CLIP pre-tokenises them (used to check tokenizer coverage)."""
    return sorted({w for t in texts for w in _WORD.findall(str(t).lower())})


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------
def _groups(channels: Sequence[int]) -> int:
    return int(np.gcd.reduce([8, *channels]))


def tiny_vae(spec: TinySpec):
    from diffusers import AutoencoderKL

    n = len(spec.vae_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=spec.vae_channels,
                         layers_per_block=1, latent_channels=spec.latent_channels,
                         norm_num_groups=_groups(spec.vae_channels), sample_size=spec.resolution,
                         mid_block_add_attention=False)


def tiny_unet(spec: TinySpec):
    from diffusers import UNet2DConditionModel

    att = spec.attention_levels
    down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in att)
    up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(att))
    heads = tuple(max(1, c // spec.attention_head_dim) for c in spec.unet_channels)
    return UNet2DConditionModel(sample_size=spec.latent_size, in_channels=spec.latent_channels,
                                out_channels=spec.latent_channels, down_block_types=down,
                                up_block_types=up, block_out_channels=spec.unet_channels,
                                layers_per_block=spec.unet_layers_per_block,
                                cross_attention_dim=spec.text_hidden, attention_head_dim=heads,
                                norm_num_groups=_groups(spec.unet_channels))


def tiny_text_encoder(spec: TinySpec, tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=spec.text_hidden,
                            intermediate_size=2 * spec.text_hidden,
                            num_hidden_layers=spec.text_layers, num_attention_heads=spec.text_heads,
                            max_position_embeddings=spec.max_length,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id)
    return CLIPTextModel(config)


def noise_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE, prediction_type="epsilon", clip_sample=False)


def build_tiny(corpus: Iterable[str], spec: TinySpec | None = None, seed: int = 0) -> Components:
    """Fresh tiny components (random weights; the VAE still needs ``vae.pretrain_vae``)."""
    spec = spec or TinySpec()
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(corpus, spec.max_length, spec.vocab_size)
    comps = Components(unet=tiny_unet(spec), vae=tiny_vae(spec),
                       text_encoder=tiny_text_encoder(spec, tokenizer), tokenizer=tokenizer,
                       noise_scheduler=noise_scheduler(),
                       info={"pretrained": "tiny", "spec": asdict(spec)})
    comps.info["n_params"] = n_params(comps)
    return comps


def n_params(comps: Components) -> dict[str, int]:
    return {k: sum(p.numel() for p in getattr(comps, k).parameters())
            for k in ("unet", "vae", "text_encoder")}


def load_components(pretrained: str | Path) -> Components:
    """Components from a hub id or a local diffusers folder (SD-1.5 layout, or a saved tiny one)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    from raregal.core import model_card
    from raregal.core.config import repo_root
    from raregal.fetch.models import resolve_pretrained

    spec = str(pretrained)
    if spec == "tiny":
        raise ValueError("'tiny' has no weights to load: build it with build_tiny(corpus, spec)")
    # a kept base (models/<name>/) must be there and match its model card's sha256
    model_card.require_kept(spec, repo_root(), rebuild="python -m raregal.pretrain diffusion")
    # a local folder or the hub cache, never the network; missing weights → an error saying how to get them
    local = resolve_pretrained(spec, root=repo_root()).path
    card = model_card.verify(local) if model_card.read_card(local) is not None else None
    src = str(local)
    info_path = local / "raregal.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {"pretrained": spec}
    if card is not None:
        info["model_card"] = {k: card[k] for k in ("command", "training_data", "training", "git_commit")
                              if k in card}
    comps = Components(
        unet=UNet2DConditionModel.from_pretrained(src, subfolder="unet"),
        vae=AutoencoderKL.from_pretrained(src, subfolder="vae"),
        text_encoder=CLIPTextModel.from_pretrained(src, subfolder="text_encoder"),
        tokenizer=AutoTokenizer.from_pretrained(src, subfolder="tokenizer"),
        noise_scheduler=DDPMScheduler.from_pretrained(src, subfolder="scheduler"),
        info=info)
    comps.info["n_params"] = n_params(comps)
    return comps


def spec_from_profile(section) -> TinySpec:
    """TinySpec from the ``diffusion`` config section (keys named like the TinySpec fields)."""
    values = vars(section) if not isinstance(section, dict) else section
    names = TinySpec.__dataclass_fields__
    return TinySpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names})
