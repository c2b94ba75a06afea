"""Which image the orientation is measured on: accuracy against the mock's truth, and cost.

Gagliano & Villar (2023) §2 describe eq. 1, then the resize to 69 px, then photutils on the grz stack;
the authors' code (their `getRotations` notebook) runs photutils on the eq. 1 stack at the cutouts'
full size with a 1.1σ threshold, and resizes afterwards. This repository measures on the raw 128 px
stack at 1.5σ (notebook 02 and the survey tool). The batched fast path runs each variant on the same
mock cutouts; the periodic (mod π) RMS against the true position angle is taken on three sets: the
galaxies resolved on the raw stack (segment ≥ 60 px, ellipticity ≥ 0.3), those with true axis ratio
≤ 0.6, and all with a measurement. Cost: process CPU ms per galaxy of the measurement alone (best of
two; eq. 1 and the resize are paid by every variant's pipeline anyway). The fast path does not deblend,
so the photutils recipe (with deblending, as the authors ran it) repeats the 128 px variants on the
first ``n_photutils`` galaxies.
Usage: .venv/bin/python benchmarks/orientation_image.py [n_galaxies] [seed] [n_photutils].
Last line: one JSON object.
"""
import json
import sys
import time

import numpy as np

from raregal.core.images import resize
from raregal.mock import survey
from raregal.paper_a import orientation
from raregal.paper_a.preprocess import band_maxima, normalise
from raregal.paper_a.values import EQ1_BETA

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
n_photutils = int(sys.argv[3]) if len(sys.argv) > 3 else 200
cat = survey.sample_catalog(n, 0, 0, 0.0, seed)
raw = survey.render_cutouts(cat, np.random.default_rng(seed))
raw = np.where(np.isfinite(raw), raw, 0).astype(np.float32)
band_max_mean = band_maxima(raw).mean(0)  # ⟨max⟩ of these cutouts, as notebook 02 takes it over its training galaxies
eq1 = normalise(raw.copy(), band_max_mean, EQ1_BETA)
eq1_69 = resize(eq1, 69)
OURS = f"raw_128_{orientation.DETECT_NSIGMA:g}sigma (this repository)"
variants = {  # name: (image, threshold in background rms)
    OURS: (raw, orientation.DETECT_NSIGMA),
    "raw_128_1.1sigma": (raw, 1.1),
    "eq1_128_1.1sigma (authors' code)": (eq1, 1.1),
    "eq1_128_1.5sigma": (eq1, 1.5),
    "eq1_69_1.5sigma (order of the paper's text)": (eq1_69, 1.5),
    "eq1_69_1.1sigma": (eq1_69, 1.1),
}
truth, q = cat["true_orientation"].to_numpy(), cat["true_axis_ratio"].to_numpy()
measured, cost = {}, {}
for name, (images, nsigma) in variants.items():
    cost[name] = np.inf
    for _ in range(2):
        c0 = time.process_time()
        measured[name] = orientation.orientation_fast(images, nsigma)
        cost[name] = min(cost[name], 1e3 * (time.process_time() - c0) / n)
ours = measured[OURS]
resolved = orientation.is_resolved(ours["area"], ours["ellipticity"])
rows = {}
for name, m in measured.items():
    angle = m["orientation"].to_numpy()
    ok = np.isfinite(angle)
    rows[name] = {
        "rms_resolved": round(orientation.periodic_rms(angle[resolved & ok], truth[resolved & ok]), 4),
        "n_resolved": int((resolved & ok).sum()),
        "rms_true_q_le_0.6": round(orientation.periodic_rms(angle[(q <= 0.6) & ok], truth[(q <= 0.6) & ok]), 4),
        "rms_all": round(orientation.periodic_rms(angle[ok], truth[ok]), 4),
        "n_measured": int(ok.sum()),
        "cpu_ms_per_galaxy": round(cost[name], 3),
    }
    r = rows[name]
    print(f"{name:44s} rms vs truth [rad]: resolved {r['rms_resolved']:.3f} (n={r['n_resolved']}), "
          f"q<=0.6 {r['rms_true_q_le_0.6']:.3f}, all {r['rms_all']:.3f} (n={r['n_measured']}); "
          f"{r['cpu_ms_per_galaxy']:.3f} CPU ms/galaxy")
photutils = {}
for name in (OURS, "eq1_128_1.1sigma (authors' code)"):
    images, nsigma = variants[name]
    angle = np.array([orientation.orientation_photutils(im, nsigma)["orientation"] for im in images[:n_photutils]])
    sel = resolved[:n_photutils] & np.isfinite(angle)
    photutils[name] = {"rms_resolved": round(orientation.periodic_rms(angle[sel], truth[:n_photutils][sel]), 4),
                       "n_resolved": int(sel.sum()),
                       "rms_all": round(orientation.periodic_rms(angle[np.isfinite(angle)],
                                                                 truth[:n_photutils][np.isfinite(angle)]), 4)}
    print(f"photutils, {name:34s} rms vs truth [rad]: resolved {photutils[name]['rms_resolved']:.3f} "
          f"(n={photutils[name]['n_resolved']}), all {photutils[name]['rms_all']:.3f}")
print(f"{n} mock galaxies (seed {seed}); <max> per band g, r, z = {np.round(band_max_mean, 4).tolist()} nmgy; "
      f"resolved = on the raw 128 px stack at {orientation.DETECT_NSIGMA:g} sigma")
print(json.dumps({"n_galaxies": n, "seed": seed, "band_max_mean": band_max_mean.round(5).tolist(),
                  "variants": rows, "photutils": photutils}))
