"""Model cards for the weights kept in the repository (``models/<name>/``), and the check on loading.

Why: a pretrained base is an expensive cached step (hours of CPU). Its folder holds the weights in the
``save_pretrained`` layout, a machine-read ``model_card.json`` (the exact command, data, exclusions,
steps, samples seen, hardware, wall time, git commit, and the sha256 of every file) and a ``README.md``
written from it for people. :func:`verify` is called by every loader: a missing or altered file, or a
base whose card says it saw dust-lane early types (Ma et al. 2025 §3.2 keeps them out of training),
stops the run with a message naming the file, both checksums and the command that rebuilds the base.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

KEPT_DIR = "models"  # the repository folder of kept bases
CARD_FILE = "model_card.json"
README_FILE = "README.md"
_CARD_FILES = (CARD_FILE, README_FILE)


class ModelCardError(ValueError):
    """A kept model folder is missing, altered, or not allowed (the message says how to rebuild it)."""


def sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_files(folder: Path | str) -> list[str]:
    """Every file of ``folder`` (relative, sorted) except the card files themselves."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.name not in _CARD_FILES and "__pycache__" not in p.parts)


def git_commit(root: Path | str) -> str:
    """The repository commit (``+dirty`` when tracked files differ), or "unknown" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def hardware() -> dict[str, Any]:
    """What the base was trained on: CPU model and threads, or the CUDA device."""
    import torch

    out = {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
           "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        out["cuda_device"] = torch.cuda.get_device_name(0)
    return out


def write_card(folder: Path | str, card: dict[str, Any], title: str) -> dict[str, Any]:
    """Hash every file of ``folder`` into ``card["files"]``, write ``model_card.json`` and ``README.md``.

    ``card`` must say ``command`` (how to rebuild) and ``training_data`` (with ``detg_seen``)."""
    folder = Path(folder)
    for key in ("command", "training_data"):
        if key not in card:
            raise ValueError(f"a model card needs {key!r}")
    if "detg_seen" not in card["training_data"]:
        raise ValueError("a model card's training_data must say detg_seen (Ma et al. 2025 §3.2)")
    card = {**card, "files": {name: sha256(folder / name) for name in weight_files(folder)}}
    (folder / CARD_FILE).write_text(json.dumps(card, indent=1, default=str) + "\n")
    (folder / README_FILE).write_text(render_readme(card, title))
    return card


def keep(out: Path | str, fill: Callable[[Path], Any], card: dict[str, Any], title: str) -> dict[str, Any]:
    """Write a kept base: ``fill(folder)`` writes the weights into a fresh temporary folder, the card is
    written beside them, and the folder replaces ``out`` only then (no half-written base is ever kept)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    fill(tmp)
    written = write_card(tmp, card, title)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return written


def render_readme(card: dict[str, Any], title: str) -> str:
    """The human card: every field of ``model_card.json`` as a short section."""
    lines = [f"# {title}", "", card.get("summary", ""), "",
             "Rebuild (the exact command that wrote this folder):", "", "```",
             card["command"], "```", ""]
    for key, value in card.items():
        if key in ("summary", "command", "files"):
            continue
        lines.append(f"## {key.replace('_', ' ')}")
        if isinstance(value, dict):
            lines += [f"- {k}: {v}" for k, v in value.items()]
        else:
            lines.append(str(value))
        lines.append("")
    lines += ["## files (sha256; checked on every load)", ""]
    lines += [f"- `{name}`: `{digest}`" for name, digest in card["files"].items()]
    return "\n".join(lines) + "\n"


def read_card(folder: Path | str) -> dict[str, Any] | None:
    path = Path(folder) / CARD_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def verify(folder: Path | str) -> dict[str, Any]:
    """Check a kept model folder against its card; returns the card.

    Raises :class:`ModelCardError` for a missing folder or card, a file missing, altered or not on the
    card, and a base that saw D-ETGs; each message names the rebuild command."""
    folder = Path(folder)
    card = read_card(folder)
    if card is None:
        raise ModelCardError(f"{folder} has no {CARD_FILE}: it is not a base built by "
                             "`python -m raregal.pretrain` (see README, 'Pretrained bases')")
    rebuild = f"rebuild it with:\n    {card.get('command', 'python -m raregal.pretrain --help')}"
    seen = card.get("training_data", {}).get("detg_seen")
    if seen is None or int(seen) > 0:
        raise ModelCardError(f"{folder}: its model card says it saw {seen} dust-lane early types in "
                             "training; a base must never see them (Ma et al. 2025 §3.2): " + rebuild)
    listed = card.get("files", {})
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            raise ModelCardError(f"{path} is missing (expected sha256 {expected}); " + rebuild)
        found = sha256(path)
        if found != expected:
            raise ModelCardError(f"{path} was altered: expected sha256 {expected}, found {found}; "
                                 + rebuild)
    extra = sorted(set(weight_files(folder)) - set(listed))
    if extra:
        raise ModelCardError(f"{folder} holds files its model card does not list: {extra}; " + rebuild)
    return card


def require_kept(spec: str | Path, root: Path | str, rebuild: str) -> None:
    """A ``models/<name>`` spec whose folder is absent (in the working directory and the repository)
    is an error saying how to rebuild it; other specs pass through to their own loaders."""
    path = Path(spec)
    if path.is_absolute() or not path.parts or path.parts[0] != KEPT_DIR:
        return
    if path.exists() or (Path(root) / path).exists():
        return
    raise ModelCardError(f"the kept base {spec} is missing (no folder {Path(root) / path}); rebuild it "
                         f"with:\n    {rebuild} --out {spec}")


def refuse_same_data_seed(card: dict[str, Any] | None, run_seed: int, where: str) -> None:
    """A run whose seed is the base's pretraining-data seed would draw the base's own survey."""
    if card is None:
        return
    data_seed = card.get("training_data", {}).get("data_seed")
    if data_seed is not None and int(data_seed) == int(run_seed):
        raise ModelCardError(f"run seed {run_seed} is the pretraining-data seed of {where}: the run's mock "
                             "survey would be the base's own; choose another seed")


def describe(spec: str | Path | None, root: Path | str) -> str:
    """One line saying which base a run started from, for notebooks, captions and the report."""
    if spec in (None, "", "tiny"):
        return "none: trained from scratch by this run"
    path = Path(spec) if Path(spec).is_absolute() else Path(root) / spec
    card = read_card(path) if path.is_dir() else None
    if card is None:
        return str(spec)
    data, training = card.get("training_data", {}), card.get("training", {})
    full = str(card.get("git_commit", "unknown"))
    commit = full.split("+")[0][:12] + ("+dirty" if full.endswith("+dirty") else "")  # never hide "dirty"
    return (f"{spec}: pretrained here on {training.get('samples_seen', '?'):,} samples of "
            f"{data.get('images', '?'):,} mock GZ2 images (data seed {data.get('data_seed')}, "
            f"{data.get('detg_seen')} D-ETGs seen), commit {commit}")
