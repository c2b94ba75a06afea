"""Does Table 3's result depend on how dark the mock's D-ETG lanes are?

Ma et al. (2025) Table 3: with 100 known dust-lane early types (D-ETGs) against 10,000 other
galaxies, a classifier reaches F1 0.43, and synthetic D-ETGs raise it to 0.66. On the default mock
the same design gives a baseline of about 0.9 and synthetic D-ETGs add nothing. One explanation
would be that the mock's D-ETG lanes (optical depth τ_r 2.5–4, as deep as its edge-on disks' lanes)
are darker than real ones, so that 81 real examples suffice.

This benchmark tests that explanation. It takes a finished default run (``--root``, only read),
and for each ``--depths`` value:

1. copies the run's data folder into ``--work`` as hard links (nothing is copied byte for byte);
2. re-renders the survey with the D-ETG lanes' optical depth scaled by that value
   (``survey_b.detg_lane_depth``; every other image stays byte-identical) and swaps in the D-ETG images;
3. rebuilds the image stores and measures the lanes' observed depth: the peak g-band extinction
   −2.5 log10(with lane / without) within R90 of each D-ETG, after the PSF, without noise;
4. runs notebook 12's Table 3 splits (``benchmarks/detg_synthesis.py``'s ``table3_few_known``) with
   ``--known`` known D-ETGs training, baseline and augmented with the run's 300 synthetic D-ETGs.

The trunk and the synthetic D-ETGs stay those of the run: notebook 09 fine-tuned the trunk on the
depth-1 images, and the synthetic D-ETGs start from early types without a lane.

Human lines, then one JSON object on the last line.

    python benchmarks/detg_lane_depth.py --root /path/to/finished/run --depths 1,0.5,0.25 --known 5,81
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # detg_synthesis: the run loader and Table 3
import detg_synthesis


def linked_copy(root: Path, work: Path) -> None:
    """``work`` with ``root``'s data as hard links, the rest of the checkout as symbolic links; the
    image stores and the view cache are left out (they are rebuilt from the new images)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for entry in root.iterdir():
        if entry.name != "data":
            (work / entry.name).symlink_to(entry.resolve())
    shutil.copytree(root / "data", work / "data", copy_function=os.link, symlinks=True,
                    ignore=shutil.ignore_patterns("images-*px-*.h5", "catalog_views.npz"))


def swap_detg_images(cfg, depth: float, scratch: Path) -> pd.DataFrame:
    """Re-render the survey at ``depth`` into ``scratch`` and replace the D-ETGs' images of ``cfg``'s
    run (new files, so the hard-linked originals stay as they are). Returns the catalog."""
    from raregal.core import gz2_schema
    from raregal.mock import gz2 as mock_gz2

    sb = cfg.survey_b
    mock_gz2.write_survey(scratch, sb.n_galaxies, sb.image_size, cfg.seed, sb.fov_r90, sb.detg_fraction,
                          log=None, detg_lane_depth=depth)
    catalog = gz2_schema.read_catalog(scratch)
    images = cfg.data_dir("interim", "gz2") / gz2_schema.IMAGES_DIR
    for i in catalog.loc[catalog["true_detg"], "dr7objid"]:
        tmp = images / f".{i}.jpg.swap"
        shutil.copyfile(scratch / gz2_schema.IMAGES_DIR / f"{i}.jpg", tmp)
        os.replace(tmp, images / f"{i}.jpg")
    shutil.rmtree(scratch)
    return catalog


def observed_lane_depth(cfg, catalog: pd.DataFrame, depth: float, n: int = 200) -> dict[str, float]:
    """Peak g-band extinction [mag] within R90 of the lanes of the first ``n`` D-ETGs, and of the
    first ``n`` edge-on disks with a lane (Jansen et al. 1994 measured 2–3 mag in B in edge-on
    spirals' lanes), after the PSF: median and 10th / 90th percentiles."""
    from raregal.mock import gz2 as mock_gz2

    sb = cfg.survey_b
    c, r90 = (sb.image_size - 1) / 2, sb.image_size / sb.fov_r90
    yy, xx = np.mgrid[:sb.image_size, :sb.image_size]
    inside = (xx - c) ** 2 + (yy - c) ** 2 <= r90 ** 2
    out = {}
    samples = {"detg": catalog["true_detg"],
               "edge_on_disk": catalog["true_edge_on"] & catalog["true_dust_lane"]}
    for name, rows in samples.items():
        cat = catalog[rows].head(n).reset_index(drop=True)
        render = lambda c, d: mock_gz2.render_batch(c, sb.image_size, sb.fov_r90, np.random.default_rng(0),
                                                    return_bands=True, noise=False, detg_lane_depth=d)
        dusty, clean = render(cat, depth), render(cat.assign(true_dust_lane=False), 1.0)
        ratio = np.clip(dusty[:, 0], 1e-12, None) / np.clip(clean[:, 0], 1e-12, None)
        peak = np.where(inside, -2.5 * np.log10(ratio), -np.inf).reshape(len(cat), -1).max(axis=1)
        out |= {f"{name}_peak_A_g_median": float(np.median(peak)),
                f"{name}_peak_A_g_p10": float(np.percentile(peak, 10)),
                f"{name}_peak_A_g_p90": float(np.percentile(peak, 90))}
    return out


def build_stores(cfg, sizes) -> None:
    """Build the run's image stores at ``sizes`` (a read builds the whole store)."""
    from raregal.core import image_store

    store = image_store.open_store(cfg, progress=False)
    for size in sizes:
        store.read(store.ids[:1], size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = str(Path(__file__).resolve().parents[1])
    ap.add_argument("--root", default=os.environ.get("RAREGAL_ROOT", here),
                    help="repository whose data/ holds the finished default mock run (only read)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "raregal-detg-lane-depth"),
                    help="scratch folder: one linked copy of the run per depth, and the synthetic images")
    ap.add_argument("--depths", default="1,0.5,0.25", help="D-ETG lane optical depth relative to the run's")
    ap.add_argument("--known", default="5,81",
                    help="known D-ETGs that train (81: all of them in the default profile's splits)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    root, work = Path(args.root).resolve(), Path(args.work)
    known = [int(k) for k in args.known.split(",") if k]
    out = {"root": str(root), "depths": []}
    for depth in (float(d) for d in args.depths.split(",") if d):
        t0 = time.perf_counter()
        run_root = work / f"depth-{depth:g}"
        linked_copy(root, run_root)
        os.environ["RAREGAL_ROOT"] = str(run_root)
        from raregal.core import config
        from raregal.paper_b import classifiers

        cfg = config.setup("default", "mock", 0, make_dirs=False)
        catalog = swap_detg_images(cfg, depth, work / "render")
        mode = cfg.detg.classifier_mode
        feat_size = classifiers.featurizer_from_config(cfg, mode=mode).image_size
        build_stores(cfg, {cfg.survey_b.image_size, feat_size})
        row = {"depth": depth, **observed_lane_depth(cfg, catalog, depth)}
        run = detg_synthesis.load_run(seed=0, mode=mode)
        setting = detg_synthesis.notebook12_setting(cfg)
        views = detg_synthesis.generate(run, setting, 300, work / "synthetic")["views"]
        for k in known:
            f1 = detg_synthesis.table3_few_known(run, views, k)
            row[f"known_{k}"] = {m: [float(np.mean(v)), float(np.std(v, ddof=1))] for m, v in f1.items()}
            head = f"depth {depth:g} (peak A_g {row['detg_peak_A_g_median']:.2f} mag), {k} known: "
            print(head + ", ".join(
                f"{m} F1 {np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" for m, v in f1.items()), flush=True)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        out["depths"].append(row)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
