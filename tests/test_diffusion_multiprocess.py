"""Two processes (``accelerate launch --multi_gpu --num_processes 2`` on the CPU, gloo) fine-tune the tiny pipeline along
the same loss and learning-rate curve as one process with the same global batch.

Why a test: with several processes every rank used to train on the same batch with the peak lr
multiplied by the process count, and accelerate stepped the prepared scheduler once per process per
step, so the cosine schedule ran past its end. Now each rank trains on its shard of the global batch
(core.training.shard_of_global_batch) and the schedule counts the per-process calls
(core.training.warmup_cosine_schedule), as diffusers' text-to-image example does.

Run as a script (``accelerate launch tests/test_diffusion_multiprocess.py DATA BASE OUT``) this file is
the launched fine-tune; under pytest it is the test that launches it.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from two_processes import end_processes, launch_two

from raregal.core import training
from raregal.core.config import torch_threads
from raregal.paper_b.diffusion import components, finetune, training_pairs, vae

SPEC = components.TinySpec(resolution=16, vae_channels=(8, 16), unet_channels=(16, 32), text_hidden=32,
                           text_layers=1, text_heads=2, max_length=16)
TAGS = [["completely round galaxy"] if i % 2 == 0 else ["cigar-shaped galaxy", "dust lane"] for i in range(8)]
SETTINGS = finetune.FinetuneSettings(steps=4, batch_size=4, lr_per_sample=1e-4, warmup_steps=1,
                                     checkpoint_every=4, uncond_prob=0.25, ema_decay=0.9, seed=3)


def run_finetune(data_file: Path, base: Path, out: Path) -> dict:
    """The fine-tune both runs make: SETTINGS on the cached latents in ``data_file``."""
    saved = torch.load(data_file)
    data = training_pairs.TrainingSet(saved["latents"], saved["tags"], saved["ids"])
    return finetune.finetune(components.load_components(base), data, SETTINGS, out, base=base, progress=False)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tiny base pipeline and the cached latents of 8 synthetic 16-px images."""
    root = tmp_path_factory.mktemp("multiprocess")
    rng = np.random.default_rng(0)
    images = (rng.random((8, 16, 16, 3)) * 255).astype(np.uint8)
    comps = components.build_tiny(["completely round galaxy", "cigar-shaped galaxy", "dust lane"], SPEC, seed=0)
    vae.pretrain_vae(comps.vae, images, steps=2, batch_size=4)
    comps.save(root / "base")
    torch.save({"latents": vae.encode_latents(comps.vae, images), "tags": TAGS, "ids": list(range(8))},
               root / "data.pt")
    return root



def test_two_processes_follow_the_one_process_curve(prepared):
    one = prepared / "one"
    with torch_threads(1):
        run_finetune(prepared / "data.pt", prepared / "base", one)
    two = prepared / "two"
    launch_two(__file__, prepared / "data.pt", prepared / "base", two)

    log_one, log_two = pd.read_csv(one / "train_log.csv"), pd.read_csv(two / "train_log.csv")
    assert list(log_two.step) == list(log_one.step) == [1, 2, 3, 4]
    # the lr is pure arithmetic of the step: equal to float rounding
    np.testing.assert_allclose(log_two.lr, log_one.lr, rtol=1e-12, atol=0)
    # losses: the same samples, noise and timesteps, so only the float summation order differs (two
    # half-batch passes and a gloo all-reduce of the gradients instead of one batch of 4): measured
    # 0 at steps 1-2 and ~1.1e-7 relative at steps 3-4 (float32 rounding); 1e-5 leaves room for other
    # thread counts, while the old schedule (not scaled by the process count) moves it by 2e-3 at step 3
    np.testing.assert_allclose(log_two.loss, log_one.loss, rtol=1e-5)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=finetune.peak_lr(SETTINGS))
    schedule = training.warmup_cosine_schedule(opt, SETTINGS.warmup_steps, SETTINGS.steps)
    for _ in range(SETTINGS.steps):
        opt.step()
        schedule.step()
    assert log_two.lr.iloc[-1] == pytest.approx(schedule.get_last_lr()[0], abs=1e-15)  # the schedule's end: 0
    record = json.loads((two / "checkpoint-4" / training.HYPERPARAMETERS_FILE).read_text())
    assert record["num_processes"] == 2 and record["settings"] == json.loads(json.dumps(asdict(SETTINGS)))
    with pytest.raises(ValueError, match="written by 2 processes"):  # a 2-process scheduler state
        run_finetune(prepared / "data.pt", prepared / "base", two)


if __name__ == "__main__":  # the launched fine-tune (one per rank)
    run_finetune(*(Path(a) for a in sys.argv[1:4]))
    end_processes()
