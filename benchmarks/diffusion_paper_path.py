"""The paper profile's diffusion path end to end on a GPU, with SD-1.5's architecture and random weights.

Writes the random SD-1.5 folder (sd15_random.py), runs notebook 08's ``train_pipeline`` on mock GZ2 images
at 424 px (accelerate fp16, gradient checkpointing, EMA, checkpoint, exported pipeline), reruns it (must
load, not retrain), then samples text-to-image and from a noised reference with 40 Euler-a steps.
Prints timings, peak GPU memory and image sizes, then one JSON line. Needs notebooks 01 and 07 (mock,
default profile) or --tags/--images; --small is a CPU dry run of the same code at 64 px.
    python benchmarks/diffusion_paper_path.py [--n-images 128] [--steps 20] [--small]
Measured 2026-11-22 on one H100 (128 images, 20 steps): 2.2-2.7 s/step with the set-up and one ~16-GB
checkpoint included (a bare step: 0.34-0.42 s, benchmarks/diffusion.py --sd), peak 22.1 GiB, 1.25 images/s
text-to-image and 1.5 from a reference at 424 px, images 424 px.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from sd15_random import random_sd15

from raregal.core import config, gz2_schema
from raregal.paper_b import labels
from raregal.paper_b.diffusion import components, finetune, generate, training_pairs


def peak_gib() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def main() -> None:
    cfg = config.setup("default", "mock", 0, make_dirs=False)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=Path, default=cfg.data_dir("processed", "gz2") / gz2_schema.TAGS_FILE)
    ap.add_argument("--images", type=Path, default=cfg.data_dir("interim", "gz2") / gz2_schema.IMAGES_DIR)
    ap.add_argument("--n-images", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--small", action="store_true", help="small widths at 64 px: a CPU dry run")
    args = ap.parse_args()
    if not args.small and not torch.cuda.is_available():
        raise SystemExit("SD-1.5 at 424 px needs a GPU; use --small for a CPU dry run of the same code")
    res = 64 if args.small else 424
    work = Path(tempfile.mkdtemp(prefix="paper_path_"))
    try:
        tag_table = pd.read_parquet(config.require(args.tags, made_by="07_gz2_labels"))
        images, ids, tags, drops = training_pairs.load_training_images(tag_table, args.images, res,
                                                                       args.n_images, 0)
        t = time.perf_counter()
        tokenizer = components.build_tokenizer(list(labels.TAGS.phrase), max_length=77)
        base = random_sd15(tokenizer, small=args.small).save(work / "sd15-random")
        print(f"random SD-1.5 folder written in {time.perf_counter() - t:.0f} s; {len(ids)} images at {res} px "
              f"({len(drops)} dropped)")
        section = dict(vars(config.setup("paper", "mock", 0, make_dirs=False).diffusion))
        section.update(pretrained=str(base), steps=args.steps, checkpoint_every=args.steps,
                       checkpoints_total_limit=1, max_images=args.n_images)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        s = finetune.train_pipeline(work / "model", images, tags, ids, section, corpus=[], seed=0,
                                    progress=False)
        result = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                  "resolution": res, "n_images": len(ids), "steps": args.steps, "small": args.small,
                  "train_s_per_step": round(s["train_s"] / args.steps, 3), "latents_s": round(s["latents_s"], 2),
                  "train_peak_gib": peak_gib(), "n_params": s["n_params"]}
        print(f"  fine-tune: {result['train_s_per_step']} s/step (checkpoint included), peak GPU memory "
              f"{result['train_peak_gib']} GiB")
        rerun = finetune.train_pipeline(work / "model", images, tags, ids, section, corpus=[], seed=0,
                                        progress=False)
        result["rerun_loaded"] = bool(rerun.get("loaded"))
        pipes = generate.load_pipelines(work / "model")
        reqs = [generate.Request("edge-on galaxy, {dust lane:1.3}", k) for k in range(8)]
        t = time.perf_counter()
        out, _ = generate.generate(pipes[:2], reqs, steps=40, batch_size=8, progress=False)
        result["text2img_images_per_s"] = round(len(reqs) / (time.perf_counter() - t), 3)
        refs = [generate.Request(r.prompt, r.seed, reference=images[i], reference_id=ids[i])
                for i, r in enumerate(reqs)]
        t = time.perf_counter()
        out2, _ = generate.generate(pipes[:2], refs, steps=40, batch_size=8, strength=0.8, progress=False)
        result["img2img_images_per_s"] = round(len(refs) / (time.perf_counter() - t), 3)
        result["generated_size"] = list(out.shape[1:3])
        print(f"  sampling on {pipes[0].device}: {result['text2img_images_per_s']} images/s text-to-image, "
              f"{result['img2img_images_per_s']} from a reference (strength 0.8), {out.shape[1]} px")
        if out.shape[1] != res or out2.shape[1] != res:
            raise SystemExit(f"generated {out.shape[1]} px images from a {res}-px fine-tune")
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
