"""Survey-scale throughput: galaxies/s end to end on Dask with 1 and 2 workers, beside the encoder
alone (notebook 06's ``A-table-scale`` and ``benchmarks/infer.py`` measure the same way).

Gagliano & Villar (2023) §3 estimate ~1,500 CPU-hours to encode Rubin's 2×10¹⁰ galaxies with the
encoder alone. What a survey run costs is the whole path (read → drop checks + orientation → eq. 1 →
resize → encode → calibration → SVM → Parquet), so :func:`measure` times, on the same cutouts:

- encode only (:func:`raregal.paper_a.latents.encode` on already-normalised images, 1 torch thread);
- each step of one block in one process (:func:`step_times`: where the time goes);
- end to end through :func:`.engine.run_inference` with 1 and 2 single-threaded workers
  (LocalCluster of processes), and the peak resident memory of each worker.

The survey is ``n`` galaxies in shard files that reuse a few rendered cutouts through HDF5 virtual
datasets (:func:`virtual_survey`: new ids, nothing large on disk; reads come from the page cache, so
this measures compute, not a disk). Goals of the survey tool: end to end ≥ 60 % of the encode-only
rate; 2 workers ≥ 1.7× one.
"""
from __future__ import annotations

import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.paper_a.infer import engine, steps
from raregal.paper_a.values import PAPER_SURVEY_CPU_HOURS, RUBIN_GALAXIES

#: galaxies per measurement (until config.SECTIONS has an ``infer`` section): smoke keeps 06 to
#: seconds, default to ≤ 60 s on a 2-core machine
GOAL_E2E_OVER_ENCODE, GOAL_SPEEDUP_2 = 0.6, 1.7


def virtual_survey(base: Path, folder: Path, n: int, shard_size: int) -> int:
    """Shard files of ``shard_size`` galaxies whose images map onto the cutouts of ``base`` (an
    HDF5 file with ``images``), cycled; ids 0 … n−1. Returns the number of shards."""
    import h5py

    with h5py.File(base, "r") as h5:
        n_base, shape = h5["images"].shape[0], h5["images"].shape[1:]
    folder.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, n, shard_size)):
        m = min(shard_size, n - start)
        layout = h5py.VirtualLayout(shape=(m, *shape), dtype="f4")
        src = h5py.VirtualSource(str(base), "images", shape=(n_base, *shape))
        for s in range(0, m, n_base):
            rows = min(n_base, m - s)
            layout[s:s + rows] = src[:rows]
        with h5py.File(folder / f"shard-{k:05d}.h5", "w") as out:
            out.create_virtual_dataset("images", layout)
            out.create_dataset("id", data=np.arange(start, start + m, dtype=np.int64))
    return -(-n // shard_size)


def best_rate(fn, n: int, repeats: int = 3) -> float:
    """Items per second of ``fn()`` handling ``n`` items, best of ``repeats`` (least disturbed)."""
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def step_times(bundle, images: np.ndarray) -> dict[str, float]:
    """ms per galaxy of each step on one block of raw cutouts, in this process (as torch is set)."""
    from raregal.paper_a.infer.catalog import catalog_rows

    pre, n, out = bundle.preprocess, len(images), {}
    t = time.perf_counter()
    reasons, orientation = steps.screen(images, pre["orientation_method"])
    out["screen_orientation"] = time.perf_counter() - t
    keep = reasons == ""
    t = time.perf_counter()
    x = steps.model_input(images[keep], bundle.band_max_mean, pre["beta"], pre["size"])
    out["eq1_resize"] = time.perf_counter() - t
    t = time.perf_counter()
    mu, sigma, err = steps.run_encoder(bundle.model, bundle.encoder, x, reconstruction=False)
    out["encode"] = time.perf_counter() - t
    t = time.perf_counter()
    steps.run_encoder(bundle.model, bundle.encoder, x, reconstruction=True)
    out["decode"] = time.perf_counter() - t - out["encode"]
    t = time.perf_counter()
    catalog_rows(bundle, np.arange(keep.sum()), mu, sigma, err, orientation[keep])
    out["calibrate_intervals_svm"] = time.perf_counter() - t
    return {k: 1e3 * v / n for k, v in out.items()}


def read_time(survey: Path, shard_size: int) -> float:
    """ms per galaxy to read the first shard of ``survey`` block by block, the way a task does
    (:func:`.shards.iter_blocks`), nothing else done: the floor under every end-to-end rate."""
    from raregal.paper_a.infer.shards import discover, iter_blocks

    shard = discover(survey, shard_size)[0][0]

    def read() -> int:
        return sum(len(blk.ids) for blk in iter_blocks(shard))

    n = read()
    if n == 0:
        raise ValueError(f"{shard.name}: no cutouts to time")
    return 1e3 / best_rate(read, n)


#: steps a run cannot do without: with drop screening and orientation free (another method could
#: replace them), and with every preprocessing step free
BOUND_STEPS = ("read", "eq1_resize", "encode", "calibrate_intervals_svm")
CEILING_STEPS = ("read", "encode", "calibrate_intervals_svm")


def bound_over_encode(ms_per_step: dict[str, float], needed=BOUND_STEPS) -> float:
    """The highest end to end / encode-only ratio the measured steps allow when only the ``needed``
    steps cost anything (:data:`BOUND_STEPS` by default; :data:`CEILING_STEPS` is the ceiling of any
    preprocessing). Dask, Parquet and the decoder are left out, so a real run is lower still."""
    return ms_per_step["encode"] / sum(ms_per_step[k] for k in needed)


def peak_rss_mb() -> float:
    """Peak resident memory of this process [MB] (Linux ru_maxrss is in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_run(client, survey: Path, bundle_folder: Path, out: Path, shard_size: int, reconstruction: bool) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = engine.run_inference(survey, bundle_folder, out, client=client, shard_size=shard_size,
                                   reconstruction=reconstruction, progress=False)
    seconds = time.perf_counter() - t0
    n = summary.n_galaxies + summary.n_dropped
    return {"galaxies_per_s": n / seconds, "seconds": seconds, "n": n}


def _warm_worker(folder: str, images: np.ndarray, reconstruction: bool) -> int:
    """On a worker: load the bundle (once) and put a few cutouts through every step."""
    from raregal.paper_a.infer.catalog import infer_block

    frame, _ = infer_block(engine.worker_bundle(folder), "warm-up", np.arange(len(images)), images, reconstruction)
    return len(frame)


def engine_runs(survey: Path, warm_up: np.ndarray, bundle_folder: Path, out: Path, workers=(1, 2),
                shard_size: int = 256, reconstruction: bool = False) -> dict[int, dict]:
    """Timed :func:`.engine.run_inference` runs on one LocalCluster of single-threaded worker
    processes, grown to each count in ``workers``. Before each timed run every worker loads the
    bundle and puts the ``warm_up`` cutouts through every step, so the rates are the steady state
    a long survey sees, not the start-up of a few seconds."""
    client = engine.make_client(workers=min(workers), threads=1, processes=True)
    runs = {}
    try:
        for w in sorted(workers):
            with engine.worker_environ():
                client.cluster.scale(w)
                client.wait_for_workers(w)
            client.register_plugin(engine.BundleLoader(str(bundle_folder), torch_threads=1))
            client.run(_warm_worker, str(bundle_folder), warm_up, reconstruction)
            runs[w] = _timed_run(client, survey, bundle_folder, out / f"run-{w}", shard_size, reconstruction)
            runs[w]["peak_rss_mb"] = max(client.run(peak_rss_mb).values())
    finally:
        engine.close_client(client)
    return runs


def measure(bundle_folder: Path | str, base_cutouts: Path | str, workdir: Path | str, n: int,
            shard_size: int = 256, workers=(1, 2), reconstruction: bool = False, distinct: int = 1024) -> dict:
    """Encode-only rate, per-step times and end-to-end rates of ``n`` galaxies (virtual shards over
    the first ``distinct`` cutouts of ``base_cutouts``); returns the figures as a JSON-ready dict.

    ``reconstruction``: include the decoder pass for ``recon_error`` (off by default: the goal is
    stated for the path read → … → SVM → write, and the decoder costs more than the encoder)."""
    import h5py
    import torch

    from raregal.paper_a import latents
    from raregal.paper_a.infer.bundle import load_bundle

    torch.set_num_threads(1)
    bundle = load_bundle(bundle_folder)
    work = Path(workdir)
    with h5py.File(base_cutouts, "r") as h5:
        images = h5["images"][:distinct]
    base = work / "base.h5"
    work.mkdir(parents=True, exist_ok=True)
    with h5py.File(base, "w") as h5:
        h5.create_dataset("images", data=images)
    n_shards = virtual_survey(base, work / "survey", n, shard_size)
    read_ms = read_time(work / "survey", shard_size)
    usable = steps.screen(images)[0] == ""
    pre = bundle.preprocess
    x = steps.model_input(images[usable], bundle.band_max_mean, pre["beta"], pre["size"])
    encode_rate = best_rate(lambda: latents.encode(bundle.model, x), len(x))
    per_step = {"read": read_ms, **step_times(bundle, images)}
    runs = engine_runs(work / "survey", images[:16], Path(bundle_folder), work, workers, shard_size, reconstruction)
    e2e = runs[min(workers)]["galaxies_per_s"]
    res = {"n_galaxies": n, "shards": n_shards, "shard_size": shard_size, "reconstruction": reconstruction,
           "encode_only_per_s": round(encode_rate, 1),
           **{f"e2e_{w}_worker{'s' if w > 1 else ''}_per_s": round(r["galaxies_per_s"], 1) for w, r in runs.items()},
           "e2e_over_encode": round(e2e / encode_rate, 3),
           "cpu_hours_2e10": round(RUBIN_GALAXIES / e2e / 3600, 0),
           "cpu_hours_2e10_encode_only": round(RUBIN_GALAXIES / encode_rate / 3600, 0),
           "paper_cpu_hours_2e10": PAPER_SURVEY_CPU_HOURS,
           "peak_rss_mb_per_worker": round(max(r["peak_rss_mb"] for r in runs.values()), 0),
           "ms_per_galaxy_steps": {k: round(v, 4) for k, v in per_step.items()},
           "bound_e2e_over_encode": round(bound_over_encode(per_step), 3),
           "bound_e2e_over_encode_free_preprocessing": round(
               bound_over_encode(per_step, CEILING_STEPS), 3),
           "load_average": [round(float(v), 2) for v in _load_average()]}
    if len(runs) > 1:
        res["speedup_2_workers"] = round(runs[max(workers)]["galaxies_per_s"] / e2e, 2)
    return res


def _load_average() -> tuple[float, float, float]:
    import os

    return os.getloadavg() if hasattr(os, "getloadavg") else (np.nan,) * 3


def save(res: dict, path: Path) -> Path:
    """Write a measurement (the artifact ``A-table-scale`` is made from), atomically."""
    from raregal.core.outputs import atomic_path

    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(res, indent=1))
    return Path(path)


def load(path: Path | str) -> dict:
    """A measurement saved by :func:`save`."""
    return json.loads(Path(path).read_text())


def scale_rows(res: dict) -> pd.DataFrame:
    """Long-format ``A-table-scale`` from a :func:`measure` result: quantity, workers → ours, paper."""
    nan = np.nan
    note_e2e = (f"{res['n_galaxies']} galaxies in {res['shards']} shards, decoder "
                f"{'on' if res['reconstruction'] else 'off'}")
    rows = [{"quantity": "galaxies/s, encode only", "workers": 1, "ours": res["encode_only_per_s"], "paper": nan,
             "note": "encoder on eq. 1 images, 1 thread"}]
    for key, value in res.items():
        if key.startswith("e2e_") and key.endswith("_per_s"):
            rows.append({"quantity": "galaxies/s, end to end", "workers": int(key.split("_")[1]), "ours": value,
                         "paper": nan, "note": note_e2e})
    rows += [
        {"quantity": "end to end / encode only", "workers": 1, "ours": res["e2e_over_encode"], "paper": nan,
         "note": f"goal >= {GOAL_E2E_OVER_ENCODE}"},
        *[{"quantity": f"bound on end to end / encode only, {what} free", "workers": 1, "ours": res[key],
           "paper": nan, "note": "from the ms/galaxy rows below"}
          for what, key in (("screening + orientation", "bound_e2e_over_encode"),
                            ("all preprocessing", "bound_e2e_over_encode_free_preprocessing")) if key in res],
        {"quantity": "CPU-hours for 2e10 galaxies, end to end", "workers": 1, "ours": res["cpu_hours_2e10"],
         "paper": res["paper_cpu_hours_2e10"], "note": "paper: encoder only, Apple M2 Max"},
        {"quantity": "CPU-hours for 2e10 galaxies, encode only", "workers": 1,
         "ours": res["cpu_hours_2e10_encode_only"], "paper": res["paper_cpu_hours_2e10"], "note": ""},
        {"quantity": "peak memory per worker [MB]", "workers": 2 if "speedup_2_workers" in res else 1,
         "ours": res["peak_rss_mb_per_worker"], "paper": nan, "note": "resident set, largest worker"},
    ]
    if "speedup_2_workers" in res:
        rows.append({"quantity": "speed-up, 2 workers / 1", "workers": 2, "ours": res["speedup_2_workers"],
                     "paper": nan, "note": f"goal >= {GOAL_SPEEDUP_2}"})
    rows += [{"quantity": f"ms/galaxy: {step}", "workers": 1, "ours": ms, "paper": nan, "note": "one process"}
             for step, ms in res["ms_per_galaxy_steps"].items()]
    load = res.get("load_average")
    frame = pd.DataFrame(rows)
    frame["n"] = res["n_galaxies"]
    if load:
        frame["note"] = frame["note"] + f" (load average {load[0]:.1f})"
    return frame
