"""SimCLR speed: embedding images/s and training images/s (two augmented views per image).

Measures ``raregal.paper_b.simclr`` on random images: ``embed`` (eval, no grad) and one training epoch of
``train_simclr`` (kornia augmentations + NT-Xent + Adam step), for the profile's width and image size
and for the paper's full-width ResNet-18 at 64 px (DESIGN.md quotes ≈40 img/s training, ≈120 img/s
inference for that one on this 2-core machine). Timings on a shared machine are inflated.

Usage: .venv/bin/python benchmarks/simclr.py [--profile default] [--n 512] [--threads N]
Human lines first, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from raregal.core import config
from raregal.paper_b import simclr


def measure(width: float, image_size: int, n: int, batch_size: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, image_size, image_size), dtype=np.float32)
    settings = simclr.SimCLRSettings(image_size=image_size, width=width, batch_size=batch_size,
                                     epochs=1, val_fraction=0.0, seed=seed)
    model = simclr.SimCLRModel(settings).eval()
    simclr.embed(model, x[:batch_size])  # warm-up
    t0 = time.perf_counter()
    simclr.embed(model, x, batch_size=batch_size)
    embed_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        simclr.train_simclr(x, tmp, settings, resume=False, log=lambda m: None)
        train_s = time.perf_counter() - t0
    return {"embed_img_s": n / embed_s, "train_img_s": n / train_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", choices=config.PROFILES)
    ap.add_argument("--n", type=int, default=512, help="images per measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sc = config.setup(args.profile, make_dirs=False).simclr
    print(f"torch threads: {torch.get_num_threads()}; {args.n} random images per measurement")
    prof = measure(sc.width, sc.image_size, args.n, min(sc.batch_size, args.n))
    print(f"profile {args.profile}: ResNet-18 × {sc.width} at {sc.image_size} px: "
          f"embed {prof['embed_img_s']:.0f} img/s, train {prof['train_img_s']:.0f} img/s")
    full = measure(1.0, 64, min(args.n, 256), 128)
    print(f"full-width ResNet-18 at 64 px: embed {full['embed_img_s']:.0f} img/s, "
          f"train {full['train_img_s']:.0f} img/s (DESIGN.md: ≈120 and ≈40)")
    print(json.dumps({"profile": args.profile, "width": sc.width, "image_size": sc.image_size,
                      "embed_img_s": round(prof["embed_img_s"], 1),
                      "train_img_s": round(prof["train_img_s"], 1),
                      "full_width_64px_embed_img_s": round(full["embed_img_s"], 1),
                      "full_width_64px_train_img_s": round(full["train_img_s"], 1),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
