"""Training and scoring speed of the paper-B binary classifiers on this machine.

Measures the ResNet-18 classifier (raregal.paper_b.classifiers.resnet_classifier, kornia
crop/rotation/flip per batch, BCE, Adam) in images/s for training and for scoring, at the paper's
width and at the narrow width the CPU profiles use, plus the frozen-trunk mode's linear head (feature
rows/s). CUDA is used when available. Human lines, then one JSON line.

    .venv/bin/python benchmarks/classifiers.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from raregal.paper_b import classifiers


def train_rate(model, x, y, augment, steps, batch):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    s = classifiers.TrainSettings()
    model.train()
    for i in range(steps + 1):  # first step is warm-up
        if i == 1:
            t0 = time.perf_counter()
        xb = x[:batch]
        loss = classifiers.loss_value(model(augment(xb) if augment is not None else xb), y[:batch], s)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


@torch.no_grad()
def score_rate(model, x, reps):
    model.eval()
    model(x)
    t0 = time.perf_counter()
    for _ in range(reps):
        model(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return reps * len(x) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps (a rough number)")
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    steps, reps = (2, 1) if args.quick else (5, 3)
    print(f"device {dev}, torch threads {torch.get_num_threads()}")
    out = {"device": dev}
    for width, size, batch in [(1.0, 64, 32), (0.25, 48, 64)]:
        torch.manual_seed(0)
        model = classifiers.resnet_classifier(width).to(dev)
        x = torch.rand(batch, 3, size, size, device=dev)
        y = (torch.rand(batch, device=dev) > 0.5).float()
        aug = classifiers.make_augment(size).to(dev)
        tr = train_rate(model, x, y, aug, steps, batch)
        sc = score_rate(model, torch.rand(4 * batch, 3, size, size, device=dev), reps)
        print(f"ResNet-18 width {width} at {size} px: train {tr:.0f} img/s, score {sc:.0f} img/s")
        key = f"w{width:g}_{size}px"
        out[f"train_img_s_{key}"] = round(tr, 1)
        out[f"score_img_s_{key}"] = round(sc, 1)
    head = classifiers.head_classifier(128).to(dev)
    feats = torch.randn(4096, 128, device=dev)
    lab = (torch.rand(4096, device=dev) > 0.5).float()
    hr = train_rate(head, feats, lab, None, 20 * steps, 512)
    print(f"frozen mode linear head (128-d features): train {hr:.0f} rows/s")
    out["head_train_rows_s"] = round(hr, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
