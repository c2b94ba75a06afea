"""Frozen SimCLR features or the trunk's last stage fine-tuned: which classifier mode scores better?

Ma et al. (2025) §4.2–4.3 train a ResNet-18 per task (Tables 2 and 3). On the CPU the profiles either
train a linear head on the frozen SimCLR trunk's pooled features (``frozen``, several augmented views
per image) or, per arm, a copy of that trunk whose last ResNet stage and head learn on augmented
images (``last_block``). This compares the two on a finished run's data, with the same splits:

- the Table 3 D-ETG task (known D-ETGs at 1 : 100 against random galaxies), baseline arm (BCE, no
  synthetic images), ``detg.n_seeds`` splits (the splits of :func:`raregal.paper_b.detg.table3.table3_split`);
- one Table 2 task (``bar`` unless ``--task``), baseline arm, ``classifiers.n_seeds`` splits.

F1, precision (purity) and recall (completeness) of the positive class at the validation threshold
and the test average precision (AP, threshold-free), mean ± std over splits; the paired difference of
the two modes on the same splits; the wall time of each mode: the views (embedding every image once
for ``frozen``; reading the images for ``last_block``) and the training and scoring of every split.
Training settings (epochs, batch, lr) are the profile's ``classifiers`` values. Run on one thread;
human lines, then one JSON line.

    .venv/bin/python benchmarks/classifier_modes.py                          # the default run's trunk
    .venv/bin/python benchmarks/classifier_modes.py --simclr models/simclr-pretrained   # another trunk

``--data-root`` is a checkout whose ``data/`` holds a finished default run (notebooks 01, 07, 09); it is
only read. When its image store has no file at the trunk's image size, one is built under ``--scratch``.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from raregal.paper_b import classifiers
from raregal.paper_b.classifiers.featurizer import simclr_trunk
from raregal.paper_b.classifiers.training import as_views
from raregal.paper_b.detg.table3 import table3_split

MODES = ("frozen", "last_block")
SHOWN = {"f1": "F1", "purity": "precision", "completeness": "recall"}
METRICS = (*SHOWN.values(), "AP")


def run_config(data_root: Path, profile: str, source: str, seed: int):
    """The run config of the finished run under ``data_root`` (its paths; nothing is created)."""
    os.environ["RAREGAL_ROOT"] = str(data_root)
    from raregal.core import config

    return config.setup(profile, source, seed, make_dirs=False)


def read_only_store(cfg, size: int, scratch: Path):
    """The run's image store at ``size`` px when its file is there and current; else a store of the
    same images built under ``scratch`` (the finished run's folders are never written)."""
    import h5py

    from raregal.core import image_store

    store = image_store.open_store(cfg, progress=False)
    path = store.path(size)
    key = image_store.fingerprint(store.image_dir, store.ids, size, store.crop)
    if path.exists():
        with h5py.File(path, "r") as f:
            if f.attrs.get("fingerprint") == key:
                return store
    print(f"no current image store at {size} px under {store.store_dir}: building one in {scratch}")
    return image_store.ImageStore(store.image_dir, store.ids, scratch, store.crop, size, store.fov_r90,
                                  progress=False)


def detg_splits(known: np.ndarray, n_negatives: int, ratio: float, seeds) -> list[dict]:
    """Table 3's splits: known D-ETGs at ``ratio`` positives per negative."""
    return [table3_split(known, n_negatives, seed, ratio) for seed in seeds]


def table2_splits(labels: pd.DataFrame, task: str, n_negatives: int, seeds) -> list[dict]:
    """Table 2's splits of one task: well-sampled galaxies, positives at the paper's share."""
    n_pos = classifiers.n_positives_for(n_negatives, classifiers.TABLE2_FRACTIONS[task])
    return [classifiers.split_task(labels[task].to_numpy(bool), n_negatives, n_pos, seed,
                                   eligible=labels["eligible"].to_numpy(bool),
                                   setting="--task-negatives") for seed in seeds]


def baseline_on_splits(views, positive, splits, seeds, settings, feat) -> tuple[pd.DataFrame, float]:
    """The baseline arm (BCE, no synthetic images) on every split, trained and thresholded as
    :func:`raregal.paper_b.classifiers.run_arms` does; per seed F1, precision, recall and the test
    average precision (threshold-free: with a handful of test positives F1 moves in big steps).
    Returns the per-seed rows and the wall time [s]."""
    from sklearn.metrics import average_precision_score

    t0 = time.perf_counter()
    v, positive, rows = as_views(views), np.asarray(positive, bool), []
    for seed, split in zip(seeds, splits):
        arm = classifiers.fit_arm(v, positive, split, replace(settings, seed=seed, loss="bce"),
                                  feat.make_model, feat.augment)
        y, p = positive[split["test"]], classifiers.predict_proba(arm.model, v[0, split["test"]])
        m = classifiers.positive_metrics(y, p >= arm.threshold)
        rows.append({"seed": seed, **{SHOWN[q]: m[q] for q in SHOWN}, "AP": average_precision_score(y, p),
                     "n_train": len(split["train"]), "n_test_pos": int(y.sum())})
    return pd.DataFrame(rows), time.perf_counter() - t0


def summary_row(per_seed: pd.DataFrame, task: str, mode: str, seconds: float, views_s: float) -> dict:
    """Mean ± std over splits of F1, precision, recall and AP, with counts and times."""
    out = {"task": task, "mode": mode, "n_splits": len(per_seed), "n_train": int(per_seed["n_train"].iloc[0]),
           "n_test_pos": int(per_seed["n_test_pos"].iloc[0]), "train_s": round(seconds, 1),
           "views_s": round(views_s, 1)}
    for name in METRICS:
        v = per_seed[name].to_numpy(float)
        out[f"{name}_mean"], out[f"{name}_std"] = round(float(v.mean()), 4), round(float(v.std(ddof=1)), 4)
    return out


def paired_differences(per_seed: dict, modes: list[str]) -> list[dict]:
    """Per task, the second mode minus the first on the same splits: mean ± std over splits."""
    if len(modes) != 2:
        return []
    out = []
    for task in sorted({t for t, _ in per_seed}, key=str):
        a, b = per_seed[task, modes[0]], per_seed[task, modes[1]]
        row = {"task": task, "difference": f"{modes[1]} - {modes[0]}"}
        for name in METRICS:
            d = b[name].to_numpy(float) - a[name].to_numpy(float)
            row[f"{name}_mean"] = round(float(d.mean()), 4)
            row[f"{name}_std"] = round(float(d.std(ddof=1)), 4)
        out.append(row)
    return out


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--simclr", type=Path, default=Path("/work/main/data/models/mock-default/simclr"),
                    help="folder with the SimCLR trunk's simclr.pt")
    ap.add_argument("--data-root", type=Path, default=Path("/work/main"),
                    help="checkout whose data/ holds the finished run (read only)")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--source", default="mock")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--task", default="bar", choices=sorted(classifiers.TABLE2_TAGS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--detg-negatives", type=int, default=5000,
                    help="random galaxies per D-ETG split (profile: detg.n_negatives; shrunk so that "
                         "last_block fits 5 min on one thread)")
    ap.add_argument("--task-negatives", type=int, default=None,
                    help="negatives per split of the Table 2 task (None: classifiers.n_negatives)")
    ap.add_argument("--epochs", type=int, default=None, help="None: classifiers.epochs")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/raregal-classifier-modes"),
                    help="where an image store is built when the run has none at the trunk's size")
    return ap.parse_args()


def main() -> None:
    """Compare the modes on the D-ETG task and one Table 2 task; print a table and one JSON line."""
    from raregal.core import gz2_schema

    args = parse_args()
    torch.set_num_threads(1)
    cfg = run_config(args.data_root.resolve(), args.profile, args.source, args.seed)
    c, d = cfg.classifiers, cfg.detg
    encoder, size = simclr_trunk(args.simclr, c.image_size)
    settings = classifiers.TrainSettings(lr=c.lr, epochs=args.epochs or c.epochs, batch_size=c.batch_size)
    gz2_dir = cfg.data_dir("interim", "gz2")
    tags = pd.read_parquet(cfg.data_dir("processed", "gz2") / "tags.parquet")
    known_ids = gz2_schema.read_known_detg(gz2_dir)
    if known_ids is None:
        raise SystemExit(f"no known D-ETG list in {gz2_dir}: the Table 3 task needs it")
    store = read_only_store(cfg, size, args.scratch)
    task_negatives = args.task_negatives or c.n_negatives
    detg_seeds = list(range(args.seed, args.seed + d.n_seeds))
    task_seeds = list(range(args.seed, args.seed + c.n_seeds))
    print(f"trunk {args.simclr} ({size} px, width {encoder.width:g}); {settings}; torch threads "
          f"{torch.get_num_threads()}\nD-ETG: {args.detg_negatives} negatives (profile "
          f"{d.n_negatives}) x {len(detg_seeds)} splits; {args.task}: {task_negatives} negatives x "
          f"{len(task_seeds)} splits")
    results, per_seed, modes = [], {}, args.modes.split(",")
    for mode in modes:
        feat = classifiers.Featurizer(mode, size, c.n_views if mode == "frozen" else 1, encoder.width,
                                      encoder, cfg.seed)
        t0 = time.perf_counter()
        views, ids, drops = feat.catalog(store, tags["dr7objid"])
        views_s = time.perf_counter() - t0
        print(f"{mode}: views {views.shape} in {views_s:.1f} s ({len(drops)} images dropped)")
        known = np.isin(ids, np.asarray(known_ids, np.int64))
        labels = classifiers.task_labels(tags.set_index("dr7objid").loc[ids].reset_index(), [args.task])
        tasks = {"detg": (known, detg_splits(known, args.detg_negatives, d.positive_ratio, detg_seeds),
                          detg_seeds),
                 args.task: (labels[args.task].to_numpy(bool),
                             table2_splits(labels, args.task, task_negatives, task_seeds), task_seeds)}
        for task, (positive, splits, seeds) in tasks.items():
            per_seed[task, mode], seconds = baseline_on_splits(views, positive, splits, seeds, settings, feat)
            results.append(summary_row(per_seed[task, mode], task, mode, seconds, views_s))
            print(f"  {task}: " + ", ".join(f"{n} {results[-1][n + '_mean']:.3f} ± "
                                             f"{results[-1][n + '_std']:.3f}" for n in METRICS)
                  + f"; {seconds:.0f} s")
        del views
    paired = paired_differences(per_seed, modes)
    print(pd.DataFrame(results).to_string(index=False))
    if paired:
        print("paired over the same splits:\n" + pd.DataFrame(paired).to_string(index=False))
    print(json.dumps({"simclr": str(args.simclr), "image_size": size, "width": encoder.width,
                      "epochs": settings.epochs, "batch_size": settings.batch_size, "lr": settings.lr,
                      "detg_negatives": args.detg_negatives, "task_negatives": task_negatives,
                      "results": results, "paired": paired}))


if __name__ == "__main__":
    main()
