"""Mock grz survey generation speed and memory: galaxies/s (catalog + rendering + HDF5 write) and
peak memory. The writer streams fixed chunks, so peak memory should not grow with N.
Usage: .venv/bin/python benchmarks/mock_survey.py [n_galaxies] [seed]   Last line: one JSON object.
"""
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from raregal.mock import survey as mock_survey

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
mock_survey.sample_catalog(10, 1, 1, 0.0, seed)  # warm-up: SED tables, distances

tracemalloc.start()
t0 = time.perf_counter()
cat = mock_survey.sample_catalog(n, 0, 0, 0.01, seed)
t_cat = time.perf_counter() - t0
t0 = time.perf_counter()
images = mock_survey.render_cutouts(cat.iloc[:mock_survey.RENDER_CHUNK], np.random.default_rng(seed))
t_chunk = time.perf_counter() - t0
del images
with tempfile.TemporaryDirectory() as tmp:
    t0, c0 = time.perf_counter(), time.process_time()
    info = mock_survey.write_survey(tmp, n, 0, 0, 0.01, seed)
    t_write, c_write = time.perf_counter() - t0, time.process_time() - c0
    size_mb = Path(info["cutouts"]).stat().st_size / 2**20
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
res = {
    "n_galaxies": n,
    "catalog_per_s": round(n / t_cat, 1),
    "render_per_s": round(min(n, mock_survey.RENDER_CHUNK) / t_chunk, 1),
    "end_to_end_per_s": round(n / t_write, 1),
    "end_to_end_per_cpu_s": round(n / c_write, 1),
    "peak_traced_mb": round(peak / 2**20, 1),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "cutouts_mb": round(size_mb, 1),
}
print(f"{n} mock galaxies: catalog {res['catalog_per_s']}/s, rendering {res['render_per_s']}/s, "
      f"end to end (catalog + render + HDF5) {res['end_to_end_per_s']}/s wall, "
      f"{res['end_to_end_per_cpu_s']} per CPU-second")
print(f"peak memory: traced {res['peak_traced_mb']} MB, RSS {res['peak_rss_mb']} MB; "
      f"cutouts.h5 {res['cutouts_mb']} MB")
print("timings on a shared 2-core machine; compare only runs made side by side")
print(json.dumps(res))
