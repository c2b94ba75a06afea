"""Does a SimCLR recipe learn? The 9-class morphology linear probe of its trunk against an untrained one.

Trains SimCLR (``raregal.paper_b.simclr``) on a survey's GZ2 images with the recipe given on the
command line, never on a D-ETG (``simclr.pretraining_sample``: known or true D-ETGs and early types
with a dust-lane tag are kept out), then probes the pooled trunk features of well-sampled galaxies it
never saw (``simclr.probe_table`` on the morphology class, as notebook 09) beside the same probe on
``simclr.untrained_encoder``. Also measures the training rate, so a recipe's cost on a larger survey
can be extrapolated (``--target-images``). Human lines first, then one JSON line.

    .venv/bin/python benchmarks/simclr_recipe.py --data data --n-train 8000 --epochs 10 --threads 1

``--data`` is the repository's ``data/`` folder of a finished run (notebooks 01 and 07: the images, the
catalog and ``tags.parquet``); the 48-px image store is built once in ``--store`` if missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from raregal.core import gz2_schema, images
from raregal.core.image_store import ImageStore
from raregal.paper_b import simclr


def recipe_from_args(args: argparse.Namespace) -> simclr.SimCLRSettings:
    """The SimCLR settings a command line asks for (unset ones keep the ``SimCLRSettings`` default)."""
    given = {"image_size": args.image_size, "width": args.width, "epochs": args.epochs,
             "batch_size": args.batch_size, "lr": args.lr, "temperature": args.temperature,
             "crop_scale": args.crop_scale, "crop_ratio": args.crop_ratio, "jitter": args.jitter, "jitter_p": args.jitter_p,
             "blur_sigma": args.blur_sigma, "blur_p": args.blur_p, "noise_std": args.noise_std,
             "noise_p": args.noise_p,
             "val_fraction": 0.0, "rotation_deg": args.rotation_deg, "seed": args.seed}
    return simclr.SimCLRSettings(**{k: v for k, v in given.items() if v is not None})


def load_survey(data: Path, run: str, store_dir: Path | None, size: int):
    """Catalog, tag table and image store of a finished run's ``data/`` folder."""
    gz2 = data / "interim" / run / "gz2"
    catalog = gz2_schema.read_catalog(gz2)
    tags = pd.read_parquet(data / "processed" / run / "gz2" / gz2_schema.TAGS_FILE)
    ids = pd.unique(catalog.dr7objid.to_numpy(np.int64))
    store = ImageStore(gz2 / gz2_schema.IMAGES_DIR, ids, store_dir or data / "processed" / run / "gz2",
                       image_size=size, fov_r90=_fov(data / "processed" / run / "gz2", size))
    return catalog, tags, store


def _fov(folder: Path, size: int) -> float:
    """The field of view (R90) of an existing store file at ``size`` (its name says it)."""
    found = sorted(folder.glob(f"images-{size}px-fov*.h5"))
    return float(found[0].stem.split("fov")[1]) if found else 4.24


def probe_split(tags: pd.DataFrame, n_probe: int, seed: int) -> np.ndarray:
    """``n_probe`` well-sampled galaxies drawn once (seeded): the probe set SimCLR never trains on."""
    well = tags.dr7objid.to_numpy(np.int64)[tags.well_sampled.to_numpy(bool)]
    return np.sort(np.random.default_rng([seed, 1]).choice(well, min(n_probe, len(well)), replace=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data"), help="a finished run's data/ folder")
    ap.add_argument("--run", default="mock-default", help="<source>-<profile> under data/")
    ap.add_argument("--store", type=Path, default=None, help="image store folder (default: the run's)")
    ap.add_argument("--n-train", type=int, default=3000, help="SimCLR training galaxies")
    ap.add_argument("--n-probe", type=int, default=4500, help="well-sampled galaxies held out for the probe")
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--crop-scale", type=float, nargs=2, default=None, metavar=("MIN", "MAX"))
    ap.add_argument("--crop-ratio", type=float, nargs=2, default=None, metavar=("MIN", "MAX"))
    ap.add_argument("--jitter", type=float, nargs=4, default=None, metavar=("B", "C", "S", "H"))
    ap.add_argument("--jitter-p", type=float, default=None)
    ap.add_argument("--blur-sigma", type=float, nargs=2, default=None, metavar=("MIN", "MAX"))
    ap.add_argument("--blur-p", type=float, default=None)
    ap.add_argument("--noise-std", type=float, default=None)
    ap.add_argument("--noise-p", type=float, default=None)
    ap.add_argument("--pretrained", default=None, help="start from this saved trunk (backbone.save_trunk)")
    ap.add_argument("--rotation-deg", type=float, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--target-images", type=int, default=50_000, help="survey size to extrapolate to")
    ap.add_argument("--floor-seeds", type=int, default=5, help="untrained initialisations for the floor")
    ap.add_argument("--save-trunk", type=Path, default=None, help="keep the trained trunk here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = dataclasses.replace(recipe_from_args(args), pretrained=args.pretrained)
    result = run_recipe(args, settings)
    print(json.dumps(result))


def run_recipe(args: argparse.Namespace, settings: simclr.SimCLRSettings) -> dict:
    """Train, embed, probe; print the probe and the cost; return the JSON record.

    One function for the whole measurement so the printed lines and the record come from one place.
    """
    catalog, tags, store = load_survey(args.data, args.run, args.store, settings.image_size)
    probe_ids = probe_split(tags, args.n_probe, args.seed)
    train_ids, excluded = simclr.pretraining_sample(tags, catalog, args.n_train,
                                                    np.random.default_rng(args.seed), held_out=probe_ids)
    print(f"kept out of training: {excluded.reason.value_counts().to_dict()}; "
          f"probe set {len(probe_ids):,} well-sampled galaxies")
    batch = store.read(train_ids, size=settings.image_size)
    if len(batch.drops):
        print(f"{len(batch.drops)} training images unreadable: {batch.drops.reason.value_counts().to_dict()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        history = simclr.train_simclr(images.to_tensor(batch.images), tmp, settings, resume=False)
        train_s = time.perf_counter() - t0
        model = simclr.load_simclr(tmp)
        if args.save_trunk is not None:
            from raregal.paper_b.backbone import save_trunk

            save_trunk(model, args.save_trunk, about={"settings": dataclasses.asdict(settings),
                                                      "n_images": len(batch.ids)})
    untrained = simclr.untrained_encoder(dataclasses.replace(settings, pretrained=None))
    labelled = tags.set_index("dr7objid").loc[probe_ids].reset_index()
    feats = {name: simclr.embed_stored(enc, store, probe_ids)[1]
             for name, enc in (("SimCLR", model), ("random init", untrained))}
    labels = {"morphology class": simclr.morphology_class(labelled)}
    table = simclr.probe_table(feats, labels, seed=args.seed)
    floor = simclr.untrained_floor(settings, store, probe_ids, labels["morphology class"], args.floor_seeds,
                                   args.seed)
    bal = table[table.quantity == "balanced accuracy"].set_index("encoder")["ours"]
    rate = len(batch.ids) * max(len(history), 1) / train_s
    minutes = args.target_images * settings.epochs / rate / 60
    print(table[["encoder", "quantity", "ours", "n"]].to_string(index=False))
    print(f"balanced accuracy SimCLR {bal['SimCLR']:.3f} vs random init {bal['random init']:.3f} "
          f"(gain {bal['SimCLR'] - bal['random init']:+.3f}); training {rate:.0f} img/s on "
          f"{torch.get_num_threads()} thread(s): {settings.epochs} epochs on {args.target_images:,} images "
          f"≈ {minutes:.1f} min")
    print(f"untrained floor over {len(floor)} initialisations: {floor.mean():.3f} ± {floor.std():.3f} "
          f"(min {floor.min():.3f}, max {floor.max():.3f}); SimCLR gain over the mean "
          f"{bal['SimCLR'] - floor.mean():+.3f}")
    return {"settings": dataclasses.asdict(settings), "n_train": int(len(batch.ids)),
            "n_probe": int(len(probe_ids)), "excluded": int(len(excluded)),
            "balanced_accuracy": round(float(bal["SimCLR"]), 4),
            "balanced_accuracy_untrained": round(float(bal["random init"]), 4),
            "gain": round(float(bal["SimCLR"] - bal["random init"]), 4),
            "floor_mean": round(float(floor.mean()), 4), "floor_sd": round(float(floor.std()), 4),
            "floor_seeds": len(floor), "gain_over_floor_mean": round(float(bal["SimCLR"] - floor.mean()), 4),
            "final_train_loss": round(float(history.train_loss.iloc[-1]), 4) if len(history) else None,
            "train_seconds": round(train_s, 1), "train_img_per_s": round(rate, 1),
            "threads": torch.get_num_threads(), "target_images": args.target_images,
            "target_minutes": round(minutes, 2)}


if __name__ == "__main__":
    main()
