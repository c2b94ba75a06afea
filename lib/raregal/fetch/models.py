"""Where the diffusion weights come from: ``pretrained`` = "tiny" | a local diffusers folder | a hub id.

Why: the paper fine-tunes Stable Diffusion v1.5 (≈4 GB of weights); tests and the default profile use
a tiny pipeline built here. :func:`resolve_pretrained` turns the parameter into a local folder
without ever downloading unless asked (``allow_download=True`` and ``HF_HUB_OFFLINE`` unset), reading
a hub id from the Hugging Face cache, and when weights are missing says exactly how to provide them.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

TINY = "tiny"
SD15_HUB_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"
REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# What a download takes from a hub repository: fp32 safetensors of the components we train/use,
# not the 7 GB .ckpt, the .bin duplicates, fp16/EMA variants or the safety checker.
DOWNLOAD_PATTERNS = (
    "model_index.json", "scheduler/*", "tokenizer/*", "feature_extractor/*",
    "text_encoder/config.json", "text_encoder/model.safetensors",
    "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
    "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class WeightsUnavailableError(FileNotFoundError):
    """``pretrained`` names weights that are not on this machine (and may not be downloaded)."""


@dataclass(frozen=True)
class ResolvedModel:
    """``kind`` is tiny | local | hub; ``path`` is the diffusers folder (None for tiny)."""

    kind: str
    spec: str
    path: Path | None = None


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set to a true value (read now, not at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def missing_components(folder: Path | str) -> list[str]:
    """What a diffusers pipeline folder lacks: model_index.json and the component folders we load."""
    folder = Path(folder)
    index = folder / "model_index.json"
    if not index.is_file():
        return ["model_index.json"]
    try:
        listed = json.loads(index.read_text())
    except json.JSONDecodeError:
        return ["model_index.json (not valid JSON)"]
    return [f"{c}/" for c in REQUIRED_COMPONENTS
            if c not in listed or not (folder / c).is_dir() or not any((folder / c).iterdir())]


def how_to_provide(spec: str, cache: Path) -> str:
    hub_id = spec if _HUB_ID.match(spec) else SD15_HUB_ID
    patterns = " ".join(f'"{p}"' for p in DOWNLOAD_PATTERNS)
    return (
        "Provide the weights in one of these ways:\n"
        f"  1. on a machine with a network, fill the Hugging Face cache ({cache}):\n"
        f"       python -m raregal.fetch model {hub_id} --download\n"
        f"     or: hf download {hub_id} --include {patterns}\n"
        "     then rerun (with HF_HUB_OFFLINE=1 if you like); copy the cache folder to offline machines\n"
        "     and point HF_HUB_CACHE at it.\n"
        "  2. or put a diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,\n"
        "     scheduler/; e.g. from pipeline.save_pretrained(...)) somewhere, e.g. data/raw/models/sd-1.5,\n"
        "     and set pretrained='data/raw/models/sd-1.5'.\n"
        "  3. or set pretrained='tiny' (a small pipeline built here; no weights; not the paper's model).")


def resolve_pretrained(pretrained: str | Path, cache_dir: Path | str | None = None,
                       allow_download: bool = False, root: Path | str | None = None) -> ResolvedModel:
    """Turn ``pretrained`` into something to load; never touches the network unless
    ``allow_download`` and not ``HF_HUB_OFFLINE``. Relative folders are tried against the current
    directory, then ``root`` (the repository)."""
    spec = str(pretrained)
    if spec == TINY:
        return ResolvedModel(TINY, spec)
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    candidates = [Path(spec).expanduser()]
    if root is not None and not Path(spec).is_absolute():
        candidates.append(Path(root) / spec)
    folder = next((c for c in candidates if c.exists()), None)
    if folder is not None:
        missing = missing_components(folder)
        if missing:
            raise WeightsUnavailableError(
                f"pretrained={spec!r}: {folder} is not a complete diffusers pipeline folder "
                f"(missing {', '.join(missing)}).\n" + how_to_provide(spec, cache))
        return ResolvedModel("local", spec, folder.resolve())
    if not _HUB_ID.match(spec):
        raise WeightsUnavailableError(
            f"pretrained={spec!r} is neither 'tiny', an existing folder, nor a hub id like "
            f"'{SD15_HUB_ID}'.\n" + how_to_provide(spec, cache))
    path = _from_hub(spec, cache, allow_download and not hub_offline())
    missing = missing_components(path)
    if missing:
        raise WeightsUnavailableError(
            f"pretrained={spec!r}: the cached snapshot {path} lacks {', '.join(missing)}.\n"
            + how_to_provide(spec, cache))
    return ResolvedModel("hub", spec, path)


def _from_hub(repo_id: str, cache: Path, download: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, cache_dir=cache, local_files_only=True))
    except LocalEntryNotFoundError:
        if not download:
            why = ("HF_HUB_OFFLINE is set" if hub_offline()
                   else "downloading was not requested")
            raise WeightsUnavailableError(
                f"pretrained={repo_id!r}: not in the Hugging Face cache {cache} ({why}).\n"
                + how_to_provide(repo_id, cache)) from None
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache,
                                      allow_patterns=list(DOWNLOAD_PATTERNS)))
    except (HfHubHTTPError, OSError) as err:
        raise WeightsUnavailableError(
            f"pretrained={repo_id!r}: download failed ({type(err).__name__}: {err}).\n"
            + how_to_provide(repo_id, cache)) from None
