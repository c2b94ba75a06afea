"""Does the tiny pipeline follow fine prompts (dust lane, arm count, ring) given more training? A GPU check.

Trains the default profile's tiny pipeline with the library's own ``finetune`` for a wall-clock budget at a
larger batch (optionally a wider UNet), then runs notebook 08's paired-seed test (B-prompt-effect: mean RMS
pixel difference of the same seeds with and without a phrase) and its Fig. 3 grid, written as PNGs.
Compare with the CPU default (2,000 steps × 16 = 32k samples; L dust lane 0.014, K 0.025, arms 0.005,
ring 0.028, edge-on vs round 0.116). Prints lines, then one JSON line.
    python benchmarks/diffusion_scale.py --budget-s 420 --batch-size 256 [--unet-channels 32,64,128,128]
Measured 2026-11-22 on one H100 (this procedure, two runs side by side; ~0.15 s/step whatever the batch):
- default UNet, 1,700 × 256 = 435k samples (13.6× the CPU default): L 0.057, K 0.049, arms 0.029,
  ring 0.040, edge-on vs round 0.095; Fig. 3 shows rings, merger arcs and, for K and L, edge-on disks split
  by a dark band in some seeds (cruder than the mock's lanes);
- UNet 32-64-128-128, same samples: L 0.042, K 0.094, arms 0.042, ring 0.052, edge-on vs round 0.146.
- this script alone, default UNet, 900 × 256 = 230k samples (7.2×): L 0.027, K 0.081, arms 0.033, ring
  0.037, edge-on vs round 0.102; no lane drawn for L yet, 2-arm spirals drawn.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from raregal.core import config, gz2_schema, images  # noqa: E402
from raregal.paper_b import labels  # noqa: E402
from raregal.paper_b.diffusion import (  # noqa: E402
    components,
    finetune,
    generate,
    prompts,
    training_pairs,
    vae,
)


def main() -> None:
    cfg = config.setup("default", "mock", 0, make_dirs=False)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", type=Path, default=cfg.data_dir("processed", "gz2") / gz2_schema.TAGS_FILE)
    ap.add_argument("--images", type=Path, default=cfg.data_dir("interim", "gz2") / gz2_schema.IMAGES_DIR)
    ap.add_argument("--budget-s", type=float, default=420, help="training wall-clock budget")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--peak-lr", type=float, default=2e-3)
    ap.add_argument("--unet-channels", default=None, help="e.g. 32,64,128,128 (default: the profile's)")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--n-seeds", type=int, default=6)
    ap.add_argument("--inference-steps", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("build/benchmarks/diffusion_scale"))
    ap.add_argument("--name", default="scale")
    args = ap.parse_args()
    dc = dict(vars(cfg.diffusion))
    dc.update(batch_size=args.batch_size, lr_per_sample=args.peak_lr / args.batch_size,
              gradient_checkpointing="off")  # a 2-M-parameter model needs no activation saving
    if args.unet_channels:
        dc["unet_channels"] = tuple(int(c) for c in args.unet_channels.split(","))
    steps_infer = args.inference_steps or dc["inference_steps"]
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="diffusion_scale_"))

    tag_table = pd.read_parquet(config.require(args.tags, made_by="07_gz2_labels"))
    train_images, ids, tags, drops = training_pairs.load_training_images(
        tag_table, args.images, dc["resolution"], args.max_images, 0)
    corpus = list(labels.TAGS.phrase) + list(prompts.TABLE1.prompt)
    # notebook 08's tiny base: same corpus, seed, VAE steps
    comps, base = finetune.base_components(work, dc, train_images, corpus, progress=False)
    data = training_pairs.TrainingSet(vae.encode_latents(comps.vae, train_images), tags, ids)
    settings = replace(finetune.settings_from_profile(dc), seed=0)
    n_cal = 60
    t = time.perf_counter()
    calibration = replace(settings, steps=n_cal, warmup_steps=5, checkpoint_every=10**6)
    finetune.finetune(components.load_components(base), data, calibration, work / "calibration", base=base,
                      caption_fn=training_pairs.tag_caption, progress=False)
    per_step = (time.perf_counter() - t) / n_cal  # set-up included: an upper bound
    steps = max(100, int(args.budget_s / per_step) // 100 * 100)
    settings = replace(settings, steps=steps, warmup_steps=max(10, steps // 20), checkpoint_every=steps)
    print(f"{len(ids)} images ({len(drops)} dropped), UNet {dc['unet_channels']}: ≤{per_step * 1000:.0f} ms/step → "
          f"{steps} steps × batch {settings.batch_size} = {steps * settings.batch_size:,} samples, peak lr "
          f"{finetune.peak_lr(settings):g}", flush=True)
    t = time.perf_counter()
    summary = finetune.finetune(components.load_components(base), data, settings, work / "model", base=base,
                                caption_fn=training_pairs.tag_caption, progress=False)
    result = {"name": args.name, "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
              "unet_channels": list(dc["unet_channels"]), "steps": steps, "batch_size": settings.batch_size,
              "samples": steps * settings.batch_size, "train_s": round(time.perf_counter() - t, 1),
              "final_loss": round(summary["final_loss"], 4)}

    pipes = generate.load_pipelines(work / "model")[:2]
    table1 = prompts.table1_prompts(tag_table)
    pair_images, effect = generate.prompt_pairs(pipes, prompts.phrase_pairs(table1), args.n_seeds,
                                                guidance=dc["guidance"], steps=steps_infer)
    result["prompt_effect"] = dict(zip(effect.pair, effect.ours.round(4)))
    print(effect[["pair", "ours", "std"]].to_string(index=False))
    fig = plt.figure(figsize=(args.n_seeds + 3.8, 1.15 * 2 * len(effect) + 0.6))
    generate.plot_prompt_pairs(fig, pair_images, effect)
    fig.suptitle(f"{args.name}: {steps} steps × batch {settings.batch_size}, MOCK survey; same seeds, prompt a "
                 "(upper) vs b (lower)", fontsize=9)
    fig.savefig(args.out / f"{args.name}_pairs.png", dpi=80)
    reqs = [generate.Request(p, k, key=x) for x, p in zip(table1.letter, table1.ours) for k in range(3)]
    generated, meta = generate.generate(pipes, reqs, guidance=dc["guidance"], steps=steps_infer, batch_size=64,
                                        progress=False)
    real = {}
    for x, rid in prompts.real_examples(tag_table, table1, n=1, seed=0).items():
        batch = images.read_images(args.images, rid, size=dc["resolution"])
        if len(batch.ids):
            real[x] = batch.images[0]
    fig = plt.figure(figsize=(16, 4.8))
    generate.plot_prompt_grid(fig, list(table1.letter), real,
                              {x: generated[meta.key.to_numpy() == x] for x in table1.letter})
    fig.suptitle(f"{args.name}: Table 1 prompts A–P on the MOCK survey, top real, below generated", fontsize=9)
    fig.savefig(args.out / f"{args.name}_fig3.png", dpi=80)
    print(f"figures in {args.out}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
