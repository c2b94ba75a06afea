"""Survey inference throughput (raregal.paper_a.infer on Dask) against the encoder alone.

Prints what notebook 06's ``A-table-scale`` shows (same code: :mod:`raregal.paper_a.infer.scale`):
encode-only galaxies/s, ms/galaxy of each step in one process, end to end through the Dask engine
with 1 and 2 single-threaded workers, CPU-hours for 2×10¹⁰ galaxies beside Gagliano & Villar's
(2023) 1,500, and peak memory per worker. Goals: end to end ≥ 60 % of the encode-only rate;
2 workers ≥ 1.7× one. The survey is ``--n`` galaxies in virtual HDF5 shards over ``--distinct``
rendered mock cutouts (compute, not disk, is measured).
Usage: .venv/bin/python benchmarks/infer.py --bundle BUNDLE [--n 100000] [--shard-size 4096]
[--reconstruction] (without --bundle: the default-profile run's bundle, built from its artifacts
when notebook 05 has not written it). Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from raregal.mock.survey import write_survey
from raregal.paper_a.infer import scale
from raregal.paper_a.values import RUBIN_GALAXIES


def default_bundle() -> Path:
    from raregal.core import config
    from raregal.paper_a.infer.from_run import bundle_dir, bundle_from_run

    cfg = config.setup("default", "mock", 0)
    folder = bundle_dir(cfg)
    return folder if (folder / "bundle.json").exists() else bundle_from_run(cfg)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--distinct", type=int, default=1024)
    ap.add_argument("--shard-size", type=int, default=4096)
    ap.add_argument("--reconstruction", action="store_true", help="include the decoder pass (recon_error)")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    bundle_dir = Path(args.bundle) if args.bundle else default_bundle()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="raregal-infer-bench-"))
    write_survey(work / "mock", n_normal=args.distinct, n_green_pea=0, n_red_spiral=0, bad_fraction=0.0, seed=11)
    res = scale.measure(bundle_dir, work / "mock" / "cutouts.h5", work, args.n, args.shard_size,
                        reconstruction=args.reconstruction, distinct=args.distinct)
    print(f"encode only: {res['encode_only_per_s']:.0f} galaxies/s (1 thread, best of 3)")
    print("per step [ms/galaxy]: " + ", ".join(f"{k} {v:.3f}" for k, v in res["ms_per_galaxy_steps"].items()))
    for w in (1, 2):
        rate = res[f"e2e_{w}_worker{'s' if w > 1 else ''}_per_s"]
        print(f"end to end, {w} worker(s): {rate:.0f} galaxies/s over {args.n} galaxies in {res['shards']} shards "
              f"(decoder {'on' if args.reconstruction else 'off'})")
    print(f"bound: with drop screening and orientation free, end to end / encode only <= "
          f"{res['bound_e2e_over_encode']:.2f} (read + eq. 1 + resize + calibration against the encoder); "
          f"with all preprocessing free <= {res['bound_e2e_over_encode_free_preprocessing']:.2f}")
    print(f"peak memory per worker {res['peak_rss_mb_per_worker']:.0f} MB; load average {res['load_average']}")
    print(f"CPU-hours for {RUBIN_GALAXIES:.0e} galaxies end to end: {res['cpu_hours_2e10']:,.0f} "
          f"(encode only {res['cpu_hours_2e10_encode_only']:,.0f}; paper: ~{res['paper_cpu_hours_2e10']:,.0f}, "
          "encoder only on an Apple M2 Max)")
    print(f"goals: end to end / encode only = {res['e2e_over_encode']:.2f} (goal >= {scale.GOAL_E2E_OVER_ENCODE}); "
          f"2 workers / 1 = {res['speedup_2_workers']:.2f} (goal >= {scale.GOAL_SPEEDUP_2})")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
