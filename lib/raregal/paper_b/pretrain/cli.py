"""Command line of the pretraining: ``python -m raregal.pretrain diffusion|simclr|morphology [recipe flags]``.

Every field of a recipe is a flag (its default is the value that built the kept base), so the model
card's command rebuilds the base exactly. Work files go to ``--work`` (resumable: rerun the same
command after an interruption); the base goes to ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Sequence

BASES = {
    "diffusion": ("raregal.paper_b.pretrain.diffusion_base", "DiffusionRecipe", "pretrain_diffusion",
                  "models/gz2-diffusion-64"),
    "simclr": ("raregal.paper_b.pretrain.simclr_base", "SimclrRecipe", "pretrain_simclr",
               "models/gz2-simclr-48"),
    "morphology": ("raregal.paper_b.pretrain.morphology_base", "MorphologyRecipe", "pretrain_morphology",
                   "models/gz2-morphology-48"),
}


def _recipe_class(kind: str):
    import importlib

    module, cls, _, _ = BASES[kind]
    return getattr(importlib.import_module(module), cls)


def _flag_type(field: dataclasses.Field):
    kind = str(field.type)
    if "int" in kind and "None" in kind:
        return lambda v: None if v.lower() == "none" else int(v)
    return {"int": int, "float": float, "str": str}.get(kind, str)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m raregal.pretrain", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    for kind, (_, _, _, out) in BASES.items():
        p = sub.add_parser(kind, help=f"pretrain the {kind} base (default out: {out})")
        p.add_argument("--out", default=out, help="the kept base folder (replaced at the end)")
        p.add_argument("--work", default=None,
                       help="work folder: survey, checkpoints (default data/interim/pretrain/<out name>)")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        for field in dataclasses.fields(_recipe_class(kind)):
            p.add_argument("--" + field.name.replace("_", "-"), type=_flag_type(field), default=field.default,
                           help=f"(default {field.default})")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    import importlib

    import torch

    from raregal.core.config import repo_root

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    module, cls, fn, _ = BASES[args.kind]
    recipe_cls = getattr(importlib.import_module(module), cls)
    recipe = recipe_cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(recipe_cls)})
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    work = Path(args.work) if args.work else repo_root() / "data" / "interim" / "pretrain" / out.name
    command = "python -m raregal.pretrain " + shlex.join(argv)
    card = getattr(importlib.import_module(module), fn)(out, work, recipe, command, progress=not args.quiet)
    print(f"wrote {out}: {len(card['files'])} files, {card['training']['samples_seen']:,} samples seen")
    return 0
