"""Mock grz survey generation speed per renderer: galaxies per CPU-second end to end (catalog +
rendering + HDF5 write) on one thread, the load average beside each, peak memory, and where the fast
renderer spends its time (ms per galaxy per step, from cProfile).

Why: a 10⁶-galaxy test survey for survey-scale inference (paper A) needs ≥ 5,000 galaxies/s per
core; the default renderer stays bit-identical for the notebooks, so the goal is the fast one's.
Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mock_survey.py [n_galaxies] [seed] [--shard-size N]
Last line: one JSON object. Timings on a shared machine: compare runs made side by side, and read the
load average (a busy second core slows memory-bound steps too).
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from raregal.mock import survey as mock_survey  # noqa: E402

# step → the functions whose cumulative time it is (``writing`` is what is left: HDF5 and copies)
FAST_STEPS = {
    "catalog": ("sample_catalog",),
    "galaxy profiles": ("_galaxy_stamps_fast",),
    "PSF FFTs (inside profiles)": ("_convolve",),
    "field neighbours": ("_add_neighbours_fast",),
    "noise + clip": ("_add_noise_and_clip",),
    "table normals (inside noise)": ("fast_unit_normals",),
    "bright stars": ("star_layer",),
    "catalog.parquet": ("to_parquet",),
}
NOT_NESTED = ("catalog", "galaxy profiles", "field neighbours", "noise + clip", "bright stars",
              "catalog.parquet")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def time_writer(n: int, seed: int, renderer: str, shard_size: int | None) -> dict:
    """Galaxies per wall- and CPU-second of one ``write_survey`` call, and the load average."""
    with tempfile.TemporaryDirectory() as tmp:
        before = load_average()
        t0, c0 = time.perf_counter(), time.process_time()
        mock_survey.write_survey(tmp, n, 0, 0, 0.01, seed, renderer=renderer, shard_size=shard_size)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"per_s": round(n / wall, 1), "per_cpu_s": round(n / cpu, 1),
            "load_average": max(before, load_average())}


def fast_profile(n: int, seed: int, shard_size: int | None) -> dict:
    """ms per galaxy of each step of the fast writer, from one cProfile'd run."""
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        profile.runcall(mock_survey.write_survey, tmp, n, 0, 0, 0.01, seed, renderer="fast",
                        shard_size=shard_size)
    stats = pstats.Stats(profile).stats
    total = max(ct for (_, _, name), (_, _, _, ct, _) in stats.items() if name == "write_survey")
    steps = {step: sum(ct for (_, _, name), (_, _, _, ct, _) in stats.items() if name in names)
             for step, names in FAST_STEPS.items()}
    steps["HDF5 writing and the rest"] = total - sum(steps[s] for s in NOT_NESTED)
    steps["total (under cProfile)"] = total
    return {k: round(v / n * 1e3, 4) for k, v in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_galaxies", nargs="?", type=int, default=2000)
    parser.add_argument("seed", nargs="?", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=None)
    args = parser.parse_args()
    n, seed = args.n_galaxies, args.seed
    mock_survey.sample_catalog(10, 1, 1, 0.0, seed)  # warm-up: SED tables, distances, FFT plans
    with tempfile.TemporaryDirectory() as tmp:
        mock_survey.write_survey(tmp, 300, 0, 0, 0.01, seed, renderer="fast")
    res = {"n_galaxies": n, "shard_size": args.shard_size, "goal_per_cpu_s": 5000}
    for renderer in mock_survey.RENDERERS:
        res[renderer] = time_writer(n, seed, renderer, args.shard_size)
        r = res[renderer]
        print(f"{renderer:8s}: {r['per_cpu_s']:8.1f} galaxies per CPU-second ({r['per_s']} /s wall), "
              f"load average {r['load_average']}")
    res["fast_ms_per_galaxy"] = fast_profile(n, seed, args.shard_size)
    print("fast renderer, ms per galaxy per step (cProfile, which adds a little):")
    for step, ms in res["fast_ms_per_galaxy"].items():
        print(f"  {step:30s} {ms:.4f}")
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["fast_meets_goal"] = res["fast"]["per_cpu_s"] >= res["goal_per_cpu_s"]
    print(f"goal >= {res['goal_per_cpu_s']} galaxies per CPU-second: "
          f"{'met' if res['fast_meets_goal'] else 'not met'} by the fast renderer; "
          f"peak RSS {res['peak_rss_mb']} MB")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
