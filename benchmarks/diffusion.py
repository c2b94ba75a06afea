"""Speed of the diffusion fine-tune and sampler: tiny pipeline on this CPU, SD-1.5 where a GPU is present.

Prints human lines, then one JSON line. Random weights and random latents: the cost of a training step
and of a guided sampling step does not depend on what the weights have learned.
    .venv/bin/python benchmarks/diffusion.py [--profile default] [--threads 2] [--sd]
--sd also times SD-1.5 (unet/text_encoder configs of stable-diffusion-v1-5, random weights, no download:
sd15_random.py) at 424 px, batch 16 — meant for a GPU (paper: ≈1.1 s/step on one RTX 3090, fp16;
measured 2026-11-22 on one H100: 0.34 and 0.42 s/step in two runs). benchmarks/diffusion_paper_path.py runs the whole paper path.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from raregal.core import config
from raregal.paper_b.diffusion import components, finetune, generate, vae
from raregal.paper_b.labels import TAGS


def time_training(comps, batch: int, steps: int, latent: int, device: str, fp16: bool = False) -> float:
    unet, te = comps.unet.to(device).train(), comps.text_encoder.to(device).train()
    opt = torch.optim.AdamW(list(unet.parameters()) + list(te.parameters()), lr=1e-5, weight_decay=1e-3)
    ids = finetune.tokenize(comps.tokenizer, ["spiral galaxy, 2 spiral arms"] * batch)
    x = torch.randn(batch, 4, latent, latent, device=device)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=gen)
    t = torch.randint(0, comps.noise_scheduler.config.num_train_timesteps, (batch,), generator=gen)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.float16, enabled=fp16):
            loss = finetune.epsilon_loss(unet, te, comps.noise_scheduler, x, ids, noise, t)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(unet.parameters()) + list(te.parameters()), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # first step warms up
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_sampling(comps, n: int, steps: int) -> float:
    pipes = generate.make_pipelines(comps)
    reqs = [generate.Request("completely round galaxy", k) for k in range(n)]
    generate.generate(pipes, reqs[:2], steps=2, progress=False)  # warm-up
    t0 = time.perf_counter()
    generate.generate(pipes, reqs, steps=steps, batch_size=n, progress=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--sd", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dc = config.setup(args.profile, make_dirs=False).diffusion
    spec = components.spec_from_profile(dc)
    comps = components.build_tiny(list(TAGS.phrase), spec)
    n = comps.info["n_params"]
    print(f"tiny pipeline ({args.profile} profile): {spec.resolution} px, latents {spec.latent_size}² × 4, "
          f"UNet {n['unet'] / 1e6:.2f} M, VAE {n['vae'] / 1e6:.2f} M, text {n['text_encoder'] / 1e6:.2f} M "
          f"params; {args.threads} threads")
    step_s = time_training(comps, dc.batch_size, args.train_steps, spec.latent_size, "cpu")
    print(f"  fine-tune: {step_s:.3f} s per batch-{dc.batch_size} step ({1 / step_s:.2f} steps/s); "
          f"{dc.steps} steps ≈ {dc.steps * step_s / 60:.1f} min")
    vae_imgs = np.random.default_rng(0).integers(0, 255, (dc.vae_batch_size, spec.resolution,
                                                          spec.resolution, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    vae.pretrain_vae(comps.vae, vae_imgs, steps=5, batch_size=dc.vae_batch_size)
    vae_s = (time.perf_counter() - t0) / 5
    print(f"  VAE pre-training: {vae_s:.3f} s per batch-{dc.vae_batch_size} step; {dc.vae_steps} steps "
          f"≈ {dc.vae_steps * vae_s / 60:.1f} min")
    n_img = 16
    sample_s = time_sampling(comps, n_img, args.sample_steps)
    per_img = sample_s / n_img * dc.inference_steps / args.sample_steps
    print(f"  sampling: {n_img} images × {args.sample_steps} guided Euler-a steps in {sample_s:.2f} s → "
          f"{1 / per_img:.2f} images/s at {dc.inference_steps} steps")
    result = {"device": "cpu", "threads": args.threads, "tiny_train_step_s": round(step_s, 4),
              "tiny_train_steps_per_s": round(1 / step_s, 3), "tiny_vae_step_s": round(vae_s, 4),
              "tiny_images_per_s": round(1 / per_img, 3), "inference_steps": dc.inference_steps,
              "batch_size": dc.batch_size, "resolution": spec.resolution}
    if args.sd:
        if not torch.cuda.is_available():
            print("  SD-1.5: skipped (no GPU; at 424 px batch 16 it needs one)")
        else:
            from sd15_random import random_sd15

            sd = random_sd15(comps.tokenizer)
            sd.unet.enable_gradient_checkpointing()  # as finetune() does on CUDA
            sd.text_encoder.gradient_checkpointing_enable()
            sd_s = time_training(sd, 16, 5, 53, "cuda", fp16=True)
            print(f"  SD-1.5 UNet at 424 px, batch 16, fp16 autocast: {sd_s:.2f} s/step (paper ≈1.1 s on an RTX 3090)")
            result.update({"sd15_train_step_s": round(sd_s, 3), "gpu": torch.cuda.get_device_name()})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
