"""Survey-scale inference on Dask.distributed: one task per shard, results written by the workers.

Why Dask: Gagliano & Villar (2023) motivate the physics CVAE with Rubin's 2×10¹⁰ galaxies; that is a
batch job over sharded files, which Dask runs the same way on a laptop (``LocalCluster``) and on a
batch system or Kubernetes (an existing scheduler, e.g. started by dask-jobqueue), with its own
progress bar and dashboard. What this module adds is only what Dask cannot know:

- the bundle is loaded once per worker by a worker plugin (:class:`BundleLoader`), not per task;
- each task reads its shard in blocks (memory per worker bounded by the block, not the survey),
  writes its own ``part-<shard>.parquet`` atomically and returns a few counts to the client;
- a shard whose parts exist and validate is not submitted again (resume after a kill);
- every lost galaxy or shard is a listed drop with its reason (``drops.parquet``), never a crash.
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from raregal.paper_a.infer import parts
from raregal.paper_a.infer.bundle import load_bundle
from raregal.paper_a.infer.catalog import empty_frame, infer_block
from raregal.paper_a.infer.shards import BLOCK, DEFAULT_SHARD_SIZE, Drop, InputError, discover, iter_blocks

PLUGIN_NAME = "raregal-bundle"
LOADS = {"count": 0}  # bundle loads by BundleLoader in this process (tests: once per worker)


class InferError(RuntimeError):
    """The run cannot start (no scheduler answers, bad input); the message says what to do."""


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - distributed is a pinned dependency
    WorkerPlugin = object


class BundleLoader(WorkerPlugin):
    """Loads the model bundle once when a worker starts; tasks find it with :func:`worker_bundle`."""

    name = PLUGIN_NAME

    def __init__(self, folder: str, torch_threads: int | None = None):
        self.folder = str(folder)
        self.torch_threads = torch_threads
        self.bundle = None

    def setup(self, worker):
        if self.torch_threads:
            import torch

            torch.set_num_threads(self.torch_threads)
        self.bundle = load_bundle(self.folder)
        LOADS["count"] += 1


def worker_bundle(folder: str):
    """The bundle this worker loaded (or a fresh load when the task runs outside a worker)."""
    try:
        from distributed import get_worker

        plugin = get_worker().plugins.get(PLUGIN_NAME)
    except ValueError:  # not running on a worker
        plugin = None
    if plugin is not None and plugin.bundle is not None and plugin.folder == str(folder):
        return plugin.bundle
    return load_bundle(folder)


def workers_have_bundle(client, folder: str, fingerprint: str) -> bool:
    """True when every worker already holds this bundle (a second run on the same cluster then skips
    reloading it; a worker that joins later gets it from the plugin registered on the scheduler)."""
    def check(dask_worker):
        plugin = dask_worker.plugins.get(PLUGIN_NAME)
        bundle = getattr(plugin, "bundle", None)
        return bundle is not None and plugin.folder == folder and bundle.fingerprint == fingerprint

    answers = client.run(check)
    return bool(answers) and all(answers.values())


def process_shard(shard, bundle_folder: str, out: str, block: int = BLOCK, reconstruction: bool = True) -> dict:
    """The task: read → screen → eq. 1 → resize → encode → calibrate → SVM → write, for one shard.

    Returns counts only (the rows are in ``out``). An error inside is recorded as a drop of the shard
    (``task_failed``) so one bad shard never stops the survey."""
    t0 = time.perf_counter()
    bundle = worker_bundle(bundle_folder)
    frames, drops, n_read = [], [], 0
    try:
        for blk in iter_blocks(shard, int(bundle.preprocess["raw_size"]), block):
            drops += blk.drops
            n_read += len(blk.ids)
            if len(blk.ids):
                frame, lost = infer_block(bundle, shard.name, blk.ids, blk.images, reconstruction)
                frames.append(frame)
                drops += lost
    except Exception as err:  # a bug or a surprise in the data: keep the survey going, list it
        frames, drops = [], [Drop(shard.name, None, "task_failed", f"{type(err).__name__}: {err}")]
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame(bundle)
    meta = parts.write_shard(Path(out), shard, frame, drops, bundle.fingerprint)
    return {**meta, "n_read": n_read, "seconds": time.perf_counter() - t0, "status": "written",
            "reasons": pd.Series([d.reason for d in drops], dtype=str).value_counts().to_dict()}


def default_layout(workers: int | None = None, threads: int | None = None) -> tuple[int, int]:
    """Workers × threads from the machine: one single-threaded worker per core (torch then runs one
    thread per task; processes avoid the GIL in the Python parts of each step)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = threads or 1
    return workers or max(1, cores // threads), threads


#: glibc allocator settings for worker processes. Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 by
#: default; setting it switches off glibc's adaptive mmap threshold, so every array over 128 kB (each
#: block's stacks and temporaries) is mmapped, page-faulted in and unmapped again: a shard then takes
#: 1.6× as long. Arrays up to 32 MiB (glibc's largest mmap threshold) stay on the heap instead, and a
#: heap is trimmed only above 128 MiB free; a worker's memory stays bounded by its block.
WORKER_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(128 * 2**20)}


def worker_environ():
    """A dask.config context in which LocalCluster workers (started or scaled up) spawn with
    :data:`WORKER_MALLOC_ENV`."""
    import dask

    return dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC_ENV.items()})


def _allocator_env() -> dict:
    return {k: os.environ.get(k) for k in WORKER_MALLOC_ENV}


def allocator_hint(client) -> str | None:
    """What to do when some workers run without glibc mmap/trim settings (a cluster started elsewhere,
    or in-process workers), or None when all have them."""
    bare = [addr for addr, env in client.run(_allocator_env).items() if None in env.values()]
    if not bare:
        return None
    settings = " ".join(f"{k}={v}" for k, v in WORKER_MALLOC_ENV.items())
    return (f"{len(bare)} worker(s) run without glibc mmap/trim settings, ≈1.6x slower per shard under Dask's "
            f"default MALLOC_TRIM_THRESHOLD_; start worker processes with {settings} "
            "(or the dask config distributed.nanny.pre-spawn-environ)")


def make_client(scheduler: str | None = None, workers: int | None = None, threads: int | None = None,
                processes: bool = True, timeout: float = 10.0):
    """A Dask client: to ``scheduler`` (an address such as tcp://host:8786) or a new LocalCluster
    whose worker processes start with :data:`WORKER_MALLOC_ENV` (a variable set in the shell wins)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise InferError(f"no Dask scheduler answers at {scheduler} within {timeout:g} s ({err}). Start one "
                             "(`dask scheduler`, dask-jobqueue's SLURMCluster/PBSCluster, dask-kubernetes) and "
                             "pass its address, or leave --scheduler out for a local cluster") from None
    n_workers, n_threads = default_layout(workers, threads)
    with worker_environ():
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=n_threads, processes=processes,
                               dashboard_address=":0" if _has_bokeh() else None)
    return Client(cluster)


def close_client(client) -> None:
    """Close a client and the LocalCluster it made; the scheduler's log of its cancelled progress
    stream at shutdown is noise, so it is silenced while closing."""
    import logging

    log = logging.getLogger("distributed.scheduler")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        log.setLevel(level)


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


@dataclass
class RunSummary:
    out: str
    n_shards: int
    written: int
    skipped: int
    failed_shards: list[str] = field(default_factory=list)
    n_galaxies: int = 0
    n_dropped: int = 0
    drops_by_reason: dict = field(default_factory=dict)
    seconds: float = 0.0
    galaxies_per_s: float = 0.0
    fingerprint: str = ""
    workers: int = 0
    threads: int = 0

    def line(self) -> str:
        return (f"{self.n_galaxies} galaxies catalogued, {self.n_dropped} dropped "
                f"({', '.join(f'{k}={v}' for k, v in self.drops_by_reason.items()) or 'none'}); shards: "
                f"{self.written} written, {self.skipped} already done; {self.galaxies_per_s:.0f} galaxies/s")


def _submit(client, todo, bundle_folder, out, block, reconstruction, progress):
    from distributed import progress as dask_progress

    futures = [client.submit(process_shard, s, str(bundle_folder), str(out), block, reconstruction,
                             key=f"infer-{s.name}", pure=False) for s in todo]
    if progress and futures:
        dask_progress(futures)
    results = []
    for shard, fut in zip(todo, futures):
        try:
            results.append(fut.result())
        except Exception as err:  # the worker died or could not even write: listed, not lost
            results.append({"shard": shard.name, "status": "failed", "error": f"{type(err).__name__}: {err}"})
    return results


def run_inference(source, bundle_folder, out, *, client=None, scheduler: str | None = None,
                  workers: int | None = None, threads: int | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                  block: int = BLOCK, processes: bool = True, reconstruction: bool = True,
                  progress: bool = True, shards=None, extra_drops=()) -> RunSummary:
    """Run a survey through a bundle into ``out`` (see :mod:`.parts` for the layout).

    ``source``: an HDF5/Zarr file or folder, or a FITS folder (:func:`.shards.discover`); or pass
    ``shards`` directly (e.g. from :func:`fetch_table`). ``client``: an existing Dask client;
    otherwise one is made from ``scheduler`` or a LocalCluster of ``workers`` × ``threads``.
    """
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_folder)  # fail here, with its message, before any worker starts
    out = Path(out)
    if shards is None:
        shards, listing_drops = discover(source, shard_size)
    else:
        listing_drops = []
    if not shards and not listing_drops and not extra_drops:
        raise InputError(f"{source}: no cutouts to infer")
    todo = [s for s in shards if not parts.part_is_valid(out, s, bundle.fingerprint)]
    own_client = client is None
    if own_client:
        client = make_client(scheduler, workers, threads, processes)
    try:
        if todo and not workers_have_bundle(client, str(bundle_folder), bundle.fingerprint):
            client.register_plugin(BundleLoader(str(bundle_folder), torch_threads=1 if processes else None))
        if progress:
            link = client.dashboard_link if _has_bokeh() or not own_client else None
            hint = allocator_hint(client) if processes or not own_client else None
            if hint:
                print(f"raregal.infer: {hint}", flush=True)
            print(f"raregal.infer: {len(shards)} shards ({len(shards) - len(todo)} already done), "
                  f"dashboard: {link or 'off (the Dask dashboard needs the bokeh package)'}", flush=True)
        results = _submit(client, todo, bundle_folder, out, block, reconstruction, progress)
        n_workers = len(client.scheduler_info().get("workers", {}))
        n_threads = sum(w.get("nthreads", 0) for w in client.scheduler_info().get("workers", {}).values())
    finally:
        if own_client:
            close_client(client)
    failed = [r["shard"] for r in results if r.get("status") == "failed"]
    extra = list(listing_drops) + list(extra_drops) + [Drop(r["shard"], None, "task_failed", r["error"])
                                                       for r in results if r.get("status") == "failed"]
    drops = parts.collect_drops(out, [s.name for s in shards], extra)
    parts.write_table(out / "drops.parquet", drops)
    import pyarrow.parquet as pq

    n_gal = sum(pq.read_metadata(parts.catalog_part(out, s.name)).num_rows for s in shards
                if parts.catalog_part(out, s.name).is_file())
    seconds = time.perf_counter() - t0
    written = sum(r.get("n_rows", 0) + r.get("n_dropped", 0) for r in results)
    summary = RunSummary(str(out), len(shards), len(results) - len(failed), len(shards) - len(todo), failed,
                         n_gal, len(drops), drops["reason"].value_counts().to_dict(), seconds,
                         written / seconds if seconds > 0 else 0.0, bundle.fingerprint, n_workers, n_threads)
    parts.write_json(out / "summary.json", asdict(summary))
    return summary


def fetch_table(table, cache_dir, shard_size: int = DEFAULT_SHARD_SIZE, **fetch_kw):
    """(shards, drops) for a table of (id, ra, dec) (.csv or .parquet): the cutouts are fetched through
    :mod:`raregal.fetch.legacy_survey` (cached, resumable); each failed fetch is a ``fetch_failed`` drop."""
    from raregal.fetch.legacy_survey import fetch_cutouts
    from raregal.paper_a.infer.shards import fits_shards

    path = Path(table)
    targets = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    report = fetch_cutouts(targets, cache_dir, **fetch_kw)
    files = sorted((int(i), str(p)) for i, p in report.paths.items())
    drops = [Drop("fetch", int(r.id), "fetch_failed", str(r.reason)) for r in report.failures.itertuples()]
    return fits_shards(files, shard_size, prefix=f"{path.stem}-fits"), drops
