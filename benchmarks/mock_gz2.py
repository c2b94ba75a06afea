"""Speed and memory of the paper-B mock: images rendered per second (and with JPEG writing), peak
memory of a render batch, at the default 64 px and larger sizes. Last line: one JSON object.

    .venv/bin/python benchmarks/mock_gz2.py [--n 2048]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc

import numpy as np

from raregal.core.images import write_images
from raregal.mock import gz2 as mock_gz2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="galaxies rendered at 64 px")
    args = ap.parse_args()
    mock_gz2.make_catalog(10, seed=1)  # warm-up: imports astropy.cosmology
    t0 = time.perf_counter()
    cat = mock_gz2.make_catalog(max(args.n, 256), seed=0, detg_fraction=0.02)
    t_cat = time.perf_counter() - t0
    print(f"catalog (truth, physics, votes) for {len(cat):,} galaxies: {t_cat:.2f} s "
          f"({len(cat) / t_cat:,.0f} galaxies/s)")
    out = {"catalog_galaxies_per_s": round(len(cat) / t_cat, 1)}
    for size, n in ((64, args.n), (128, max(args.n // 4, 64)), (424, 32)):
        rng = np.random.default_rng(0)
        mock_gz2.render_batch(cat.iloc[:8], size, 4.24, rng)  # warm-up
        t = time.perf_counter()
        step = mock_gz2.render_batch_size(size)
        imgs = [mock_gz2.render_batch(cat.iloc[s:min(s + step, n)], size, 4.24, rng)
                for s in range(0, n, step)]
        dt = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            for s, batch in zip(range(0, n, step), imgs):
                write_images(tmp, cat.dr7objid.iloc[s:s + len(batch)], batch)
            dw = time.perf_counter() - t
        tracemalloc.start()
        mock_gz2.render_batch(cat.iloc[:min(step, n)], size, 4.24, rng)
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
        print(f"{size:4d} px: render {n / dt:8.1f} img/s, render + JPEG {n / (dt + dw):8.1f} img/s, "
              f"peak {peak:7.1f} MiB per batch of {min(step, n)}")
        out[f"render_img_per_s_{size}px"] = round(n / dt, 1)
        out[f"render_write_img_per_s_{size}px"] = round(n / (dt + dw), 1)
        out[f"peak_mib_batch_{size}px"] = round(peak, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    est = 20000 / out["render_write_img_per_s_64px"] + 20000 / out["catalog_galaxies_per_s"]
    print(f"process max RSS {rss:.0f} MiB; default survey (20,000 at 64 px) ≈ {est:.0f} s on this machine")
    out.update(max_rss_mib=round(rss, 1), default_survey_estimate_s=round(est, 1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
