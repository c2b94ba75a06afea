"""``python -m raregal.infer``: point a trained paper-A model bundle at a survey (see --help)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from raregal.paper_a.infer.shards import BLOCK, DEFAULT_SHARD_SIZE

DESCRIPTION = """\
Survey-scale inference with the physics-informed CVAE of Gagliano & Villar (2023): every cutout goes
through the model's own preprocessing (drop checks, orientation, eq. 1 with the training <max> per band,
resize), the encoder, the latent -> z / log M* / log SFR calibration with 68 % and 95 % intervals, and the
Green Pea / Red Spiral SVM of notebook 05; the result is a partitioned Parquet catalog.

INPUT kinds:
  cutouts.h5 or a folder of *.h5   datasets `images` float32 (N, 3, 128, 128) g, r, z [nanomaggies] and
                                    `id` int64 (what the mock survey and raregal.fetch write)
  store.zarr or a folder of *.zarr the same two arrays (needs the zarr package)
  a folder of <id>.fits            one (3, 128, 128) g, r, z cube per file
  targets.csv / targets.parquet    columns id, ra, dec: cutouts are first fetched through
                                    raregal.fetch (Legacy Surveys, cached in --cache)
"""

EPILOG = """\
OUTPUT (--out):
  catalog/part-<shard>.parquet   id, latent_1..5, z, logmstar, logsfr, <q>_lo68/_hi68/_lo95/_hi95,
                                 orientation [rad], p_normal, p_green_pea, p_red_spiral, recon_error
  drops.parquet                  shard, id, reason, detail of every galaxy or shard not catalogued
  summary.json                   counts, drops per reason, galaxies/s
  Read the catalog with pandas.read_parquet(OUT/"catalog") or dask.dataframe.read_parquet.

RESUME: run the same command again. A shard whose two parts exist, read and were written with the
same bundle is skipped; an interrupted shard is redone (parts are written atomically).

CLUSTERS: by default a LocalCluster of --workers x --threads on this machine (one single-threaded
worker per core). To use a cluster, start a Dask scheduler there and pass --scheduler ADDRESS, e.g.
  Slurm/PBS (dask-jobqueue): in Python, cluster = SLURMCluster(cores=8, memory="16GB");
      cluster.scale(jobs=10); print(cluster.scheduler_address)
  Kubernetes (dask-kubernetes operator) or any host: `dask scheduler` then `dask worker ADDRESS`
  then: python -m raregal.infer survey/ --model bundle/ --out cat/ --scheduler tcp://HOST:8786
Workers must see INPUT, --model and --out at the same paths (a shared file system) and have this
package installed. Memory per worker is bounded by --block cutouts (~50 MB per 256). Start workers with
MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728 (the LocalCluster does): under Dask's
default MALLOC_TRIM_THRESHOLD_=65536 a shard takes 1.6x as long; the tool prints a line when they lack it.

The model bundle (--model): notebook 05 writes it to data/models/<source>-<profile>/cvae/bundle (with
04's calibration and intervals and 05's SVM); raregal.paper_a.infer.from_run.bundle_from_run(cfg) refits
all its parts from a run of notebooks 02-03; raregal.paper_a.infer.bundle.save_bundle takes your own.

SPEED: the decoder pass for recon_error costs more than the encoder (≈1.6x per galaxy on one CPU
thread); for survey throughput pass --no-reconstruction. The drop checks + orientation dominate the rest.
Example on the mock survey of a finished default run:
  python -m raregal.infer data/interim/mock-default/survey_a/cutouts.h5 --model data/models/mock-default/cvae/bundle --out catalog_mock/ --no-reconstruction
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m raregal.infer", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="survey: HDF5/Zarr file or folder, FITS folder, or (id, ra, dec) table")
    p.add_argument("--model", required=True, help="model bundle folder (model.pt, preprocess.json, ...)")
    p.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers (default: one per core)")
    p.add_argument("--threads", type=int, default=None, help="threads per LocalCluster worker (default 1)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)")
    p.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                   help=f"cutouts per shard = per task (default {DEFAULT_SHARD_SIZE})")
    p.add_argument("--block", type=int, default=BLOCK, help=f"cutouts in memory at once per task (default {BLOCK})")
    p.add_argument("--no-reconstruction", action="store_true",
                   help="skip the decoder pass (recon_error becomes NaN): the decoder costs more than the encoder")
    p.add_argument("--cache", default=None, help="FITS cache folder for a table INPUT (default OUT/cutouts)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse, run, print one summary line and the summary JSON; exit 1 when a shard failed, 2 on a
    clear error (missing bundle, no scheduler, unusable input)."""
    from raregal.paper_a.infer.bundle import BundleError
    from raregal.paper_a.infer.engine import InferError, fetch_table, run_inference
    from raregal.paper_a.infer.shards import InputError

    args = build_parser().parse_args(argv)
    src = Path(args.input)
    try:
        shards, drops = None, ()
        if src.suffix in (".csv", ".parquet") and src.is_file():
            cache = Path(args.cache) if args.cache else Path(args.out) / "cutouts"
            shards, drops = fetch_table(src, cache, args.shard_size, progress=not args.quiet)
        summary = run_inference(src, args.model, args.out, scheduler=args.scheduler, workers=args.workers,
                                threads=args.threads, shard_size=args.shard_size, block=args.block,
                                reconstruction=not args.no_reconstruction, progress=not args.quiet,
                                shards=shards, extra_drops=drops)
    except (BundleError, InferError, InputError) as err:
        print(f"raregal.infer: {err}", file=sys.stderr)
        return 2
    print(summary.line())
    print(json.dumps(asdict(summary), default=str))
    return 1 if summary.failed_shards else 0
