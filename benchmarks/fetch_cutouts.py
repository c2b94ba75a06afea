"""How much of a real cutout fetch is our own overhead? Loopback server, no politeness delay.

Fetches N 128 px grz cutouts from the tests' fixture server on 127.0.0.1 (request, FITS validation,
atomic write into the cache), then rereads them from the cache (a resumed run) and stacks them into
cutouts.h5. Compare the per-cutout time with the 0.8 s politeness interval: the fetch is rate-bound
by design. Usage: .venv/bin/python benchmarks/fetch_cutouts.py [N]
"""
from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the loopback fixture server
from fixtures_server import FixtureServer  # noqa: E402

from raregal.fetch import legacy_survey as ls  # noqa: E402
from raregal.fetch.http import RetryPolicy  # noqa: E402


def main(n: int = 200) -> dict:
    server = FixtureServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows = pd.DataFrame({"id": np.arange(n), "ra": 150 + 0.001 * np.arange(n), "dec": 2.0})
    policy = RetryPolicy(delay=0.0, timeout=10.0)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        rep = ls.fetch_cutouts(rows, cache, ls.CutoutSpec(), server.url, policy, workers=4,
                               progress=False)
        t_fetch = time.perf_counter() - t0
        t0 = time.perf_counter()
        rep2 = ls.fetch_cutouts(rows, cache, ls.CutoutSpec(), server.url, policy, workers=4,
                                progress=False)
        t_resume = time.perf_counter() - t0
        t0 = time.perf_counter()
        ls.write_cutouts_h5(rows["id"].to_numpy(), [rep.paths[i] for i in rows["id"]],
                            Path(tmp) / "cutouts.h5")
        t_h5 = time.perf_counter() - t0
    server.shutdown()
    assert rep.n_downloaded == n and rep2.n_cached == n
    out = {"n": n, "fetch_ms_per_cutout": round(1e3 * t_fetch / n, 2),
           "resume_check_ms_per_cutout": round(1e3 * t_resume / n, 2),
           "h5_stack_ms_per_cutout": round(1e3 * t_h5 / n, 2),
           "overhead_vs_polite_delay": round(t_fetch / n / RetryPolicy.delay, 4)}
    print(f"{n} cutouts over loopback (4 workers, no delay): {out['fetch_ms_per_cutout']} ms each "
          f"= {100 * out['overhead_vs_polite_delay']:.1f}% of the 0.8 s politeness interval")
    print(f"resumed run (all cached, each revalidated): {out['resume_check_ms_per_cutout']} ms each")
    print(f"stacking into cutouts.h5: {out['h5_stack_ms_per_cutout']} ms each")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
