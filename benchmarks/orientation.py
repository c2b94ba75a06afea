"""Orientation speed and agreement: photutils (paper recipe) vs the batched fast path.

Same mock cutouts for both; ms/galaxy of each (process CPU time, the stable figure on a shared
machine, and wall time), and the periodic (mod π) RMS of their difference on
resolved galaxies (photutils segment ≥ 60 px and ellipticity ≥ 0.3). Goal: speedup ≥ 20 with
rms_rad ≤ 0.05. Usage: .venv/bin/python benchmarks/orientation.py [n_galaxies] [seed]
Last line: one JSON object.
"""
import json
import sys
import time

import numpy as np

from raregal.mock import survey
from raregal.paper_a import orientation

n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
cat = survey.sample_catalog(n, 0, 0, 0.0, seed)
images = survey.render_cutouts(cat, np.random.default_rng(seed))
orientation.orientation_fast(images[:8])  # warm-up (imports, kernel)

t0, c0 = time.perf_counter(), time.process_time()
fast = orientation.orientation_fast(images)
fast_wall, fast_ms = (1e3 * (time.perf_counter() - t0) / n, 1e3 * (time.process_time() - c0) / n)
t0, c0 = time.perf_counter(), time.process_time()
phot = [orientation.orientation_photutils(im) for im in images]
phot_wall, photutils_ms = (1e3 * (time.perf_counter() - t0) / n, 1e3 * (time.process_time() - c0) / n)

ph_angle = np.array([p["orientation"] for p in phot])
ph_area = np.array([p["area"] for p in phot])
ph_ell = np.array([p["ellipticity"] for p in phot])
resolved = orientation.is_resolved(ph_area, ph_ell) & np.isfinite(fast["orientation"].to_numpy())
elongated = (ph_area >= orientation.RESOLVED_MIN_AREA) & (cat["true_axis_ratio"].to_numpy() <= 0.6)
fa, tr = fast["orientation"].to_numpy(), cat["true_orientation"].to_numpy()
res = {
    "n_galaxies": n,
    "photutils_ms": round(photutils_ms, 2),
    "fast_ms": round(fast_ms, 3),
    "speedup": round(photutils_ms / fast_ms, 1),
    "photutils_wall_ms": round(phot_wall, 2),
    "fast_wall_ms": round(fast_wall, 3),
    "speedup_wall": round(phot_wall / fast_wall, 1),
    "rms_rad": round(orientation.periodic_rms(fa[resolved], ph_angle[resolved]), 4),
    "n_resolved": int(resolved.sum()),
    "rms_rad_true_q_le_0.6": round(orientation.periodic_rms(fa[elongated], ph_angle[elongated]), 4),
    "rms_fast_vs_truth": round(orientation.periodic_rms(fa[resolved], tr[resolved]), 4),
    "rms_photutils_vs_truth": round(orientation.periodic_rms(ph_angle[resolved], tr[resolved]), 4),
    "deblending": orientation.deblending_available(),
}
print(f"{n} mock galaxies (seed {seed}); photutils deblending available: {res['deblending']}")
print(f"CPU time  photutils: {photutils_ms:.1f} ms/galaxy   fast: {fast_ms:.2f} ms/galaxy   "
      f"speedup {res['speedup']}x")
print(f"wall time photutils: {phot_wall:.1f} ms/galaxy   fast: {fast_wall:.2f} ms/galaxy   "
      f"speedup {res['speedup_wall']}x")
print(f"periodic RMS fast − photutils on {res['n_resolved']} resolved galaxies: {res['rms_rad']} rad "
      f"(true q ≤ 0.6: {res['rms_rad_true_q_le_0.6']}); vs truth: fast {res['rms_fast_vs_truth']}, "
      f"photutils {res['rms_photutils_vs_truth']}")
print("timings on a shared 2-core machine (CPU time is the less load-sensitive figure)")
print(json.dumps(res))
