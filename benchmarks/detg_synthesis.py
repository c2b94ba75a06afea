"""Which synthesis setting makes synthetic D-ETGs that a classifier transfers to real ones?

Ma et al. (2025) §4.3, Table 3: synthetic dust-lane early types (D-ETGs) raise a classifier's F1 on
real ones from 0.43 to 0.66. On the default mock the augmented arm is worse than the baseline, and
the synthetic D-ETGs of notebook 12 (then img2img strength 0.8, guidance 3, prompts of Fig. 7) looked like
lane-crossed disks more than like the mock's round / in-between early types with a lane. This
benchmark reads a finished default run (read-only: ``RAREGAL_ROOT`` or ``--root``), generates
synthetic D-ETGs for a grid of img2img strength × guidance × prompt weights (into a scratch folder)
and measures, per setting:

(a) the lane statistic's flag rate (notebook 08's calibration, ``raregal.paper_b.lane_statistic``);
(b) how round they stay: second-moment ellipticity 1 − b/a of the galaxy's light, and its change
    from the real early type each image started from (real D-ETGs measured the same way, and their
    true 1 − q, beside them);
(c) transfer: a classifier as notebook 12 builds it (``--mode``: a head on frozen SimCLR features, or
    the trunk's last block fine-tuned), trained on the synthetic D-ETGs
    against real galaxies without a lane (mock truth), scored on held-out REAL D-ETGs against other
    real galaxies — average precision and F1 at the best threshold (an upper bound: the threshold
    sees the test labels); a head trained on the other half of the real D-ETGs is the reference;
(d) for the best ``--table3`` settings by transfer AP (and notebook 12's own), Table 3 exactly as
    notebook 12 computes it (``detg.run_table3``, 5 splits), and the same arms with negatives that
    hold no unlisted true D-ETG (the mock has 2 % D-ETGs, the known list 143 of them: Table 3's
    "random other galaxies" then hold more true D-ETGs than there are positives).

What each grid measured, frozen features then last-block classifiers, and why notebook 12 draws at
strength 0.9, guidance 2 and lane weight 2.5 (flags 0.54, AP 0.87: ``--strengths 0.9 --guidances 2
--lane-weights 2.5``): docs/decisions.md, the "Synthetic D-ETGs" entries.

``--table3-known 5,20`` (with ``--strengths ""`` to skip the grid) runs notebook 12's Table 3 splits
with only that many known D-ETGs training (validation and test unchanged; baseline and augmented).

Human lines, then one JSON object on the last line.

    python benchmarks/detg_synthesis.py --strengths 0.5,0.7,0.8,0.9 --table3 1
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

N_TRAIN_NEGATIVES = 3000  # real galaxies beside the synthetic D-ETGs (notebook 12's search: 3,000)
N_TEST_NEGATIVES = 5000  # real galaxies beside the held-out real D-ETGs
ELLIPTICITY_APERTURE_R90 = 1.0  # light within this radius of the centre enters the moments
ELLIPTICITY_FLOOR = 0.1  # pixels fainter than this fraction of the peak are left out (sky noise)


@dataclass(frozen=True)
class Setting:
    """One synthesis setting: img2img strength, guidance scale, prompt weights (Fig. 7: 1.2, 1.3)."""

    strength: float
    guidance: float
    round_weight: float = 1.2
    lane_weight: float = 1.3

    @property
    def name(self) -> str:
        return f"s{self.strength:g}-g{self.guidance:g}-r{self.round_weight:g}-l{self.lane_weight:g}"


def notebook12_setting(cfg) -> Setting:
    """The setting notebook 12 uses in ``cfg``'s profile (``detg.profile_setting``)."""
    from raregal.paper_b.detg import synthetic

    s = synthetic.profile_setting(cfg)
    return Setting(s["strength"], s["guidance"], synthetic.ROUND_WEIGHT, cfg.detg.lane_weight)


def moment_ellipticity(images: np.ndarray, fov_r90: float) -> np.ndarray:
    """Ellipticity 1 − b/a [0–1] of the central galaxy's light from its second moments.

    Why not the mock's truth: generated images have none. Luminance (RGB mean) minus the border's
    median sky, pixels within ``ELLIPTICITY_APERTURE_R90`` of the centre and above
    ``ELLIPTICITY_FLOOR`` of the peak; b/a = sqrt of the moment matrix's eigenvalue ratio. A lane
    along the major axis removes light there, so a laned galaxy reads a little rounder: compare
    synthetic and real D-ETGs with this same measure."""
    x = np.asarray(images, np.float64).mean(axis=-1)
    n, size = x.shape[0], x.shape[1]
    border = max(1, int(round(0.05 * size)))
    frame = np.concatenate([x[:, :border].reshape(n, -1), x[:, -border:].reshape(n, -1),
                            x[:, :, :border].reshape(n, -1), x[:, :, -border:].reshape(n, -1)], axis=1)
    f = x - np.median(frame, axis=1)[:, None, None]
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    inside = np.hypot(xx, yy) <= ELLIPTICITY_APERTURE_R90 * size / fov_r90
    peak = np.where(inside, f, -np.inf).reshape(n, -1).max(axis=1)
    w = np.where(inside & (f > ELLIPTICITY_FLOOR * peak[:, None, None]), f, 0.0)
    total = w.sum(axis=(1, 2))
    mx, my = (w * xx).sum(axis=(1, 2)) / total, (w * yy).sum(axis=(1, 2)) / total
    dx, dy = xx - mx[:, None, None], yy - my[:, None, None]
    qxx, qyy, qxy = ((w * dx * dx).sum(axis=(1, 2)) / total, (w * dy * dy).sum(axis=(1, 2)) / total,
                     (w * dx * dy).sum(axis=(1, 2)) / total)
    half_trace, root = (qxx + qyy) / 2, np.sqrt(((qxx - qyy) / 2) ** 2 + qxy ** 2)
    ratio = np.sqrt(np.clip(half_trace - root, 0, None) / np.maximum(half_trace + root, 1e-12))
    return np.where(total > 0, 1 - ratio, np.nan)


def load_run(seed: int, mode: str = "frozen") -> dict:
    """The finished default run's inputs, read-only: catalog views (``frozen``: notebook 12's cache;
    ``last_block``: the images, read here), truth, known list, clean early types, the image store and
    notebook 08's lane calibration. Refuses to rebuild anything under the run's folders (a stale store
    or view cache is an error)."""
    import h5py

    from raregal.core import config, gz2_schema, image_store
    from raregal.paper_b import classifiers, lane_statistic, lane_tables
    from raregal.paper_b.classifiers import caches
    from raregal.paper_b.detg import synthetic

    cfg = config.setup("default", "mock", seed, make_dirs=False)
    store = image_store.open_store(cfg, progress=False)  # opens no file until read
    feat = classifiers.featurizer_from_config(cfg, mode=mode)
    for size in {cfg.survey_b.image_size, feat.image_size}:
        with h5py.File(store.path(size), "r") as f:  # a stale store would be rebuilt in place: refuse
            if f.attrs.get("fingerprint") != image_store.fingerprint(store.image_dir, store.ids, size, store.crop):
                raise SystemExit(f"{store.path(size)} is stale: rerun notebook 07 of that run first")
    tags = pd.read_parquet(config.require(cfg.data_dir("processed", "gz2") / "tags.parquet", "07_gz2_labels"))
    if feat.mode == "frozen":
        cache = config.require(cfg.data_dir("processed", "classifiers", "catalog_views.npz"), "11_augmented_classifiers")
        cached = caches.load_views(cache, feat.cache_key(tags["dr7objid"], store.fingerprint(feat.image_size)))
        if cached is None:
            raise SystemExit(f"{cache} was made with other settings: rerun notebook 11 of that run first")
        views, ids, _ = cached
    else:
        views, ids, _ = feat.catalog(store, tags["dr7objid"])
    catalog = gz2_schema.read_catalog(cfg.data_dir("interim", "gz2"))
    physical = catalog.drop_duplicates("dr7objid").set_index("dr7objid").loc[ids]
    known = np.isin(ids, gz2_schema.read_known_detg(cfg.data_dir("interim", "gz2")))
    calibration = lane_statistic.load_calibration(lane_tables.calibration_path(cfg))
    return dict(cfg=cfg, store=store, feat=feat, views=views, ids=ids, known=known,
                truth=physical["true_detg"].to_numpy(bool),
                smooth=physical["true_class"].eq("smooth").to_numpy(),
                true_q=physical["true_axis_ratio"].to_numpy(float),
                etg_ids=synthetic.clean_etgs(tags, catalog), calibration=calibration)


def start_images(run: dict, n: int) -> dict[str, np.ndarray]:
    """Per prompt, the real early type each of its images starts from (notebook 12's references,
    cycled as the generator cycles them)."""
    from raregal.paper_b.detg import synthetic

    refs = synthetic.detg_references(run["etg_ids"], run["store"], run["cfg"].seed)
    return {name: refs[name][0][np.arange(count) % len(refs[name][0])]
            for name, count in synthetic.prompt_counts(n).items()}


def generate(run: dict, setting: Setting, n: int, out_dir: Path) -> dict:
    """``n`` synthetic D-ETGs of ``setting`` as notebook 12 makes them (same references and seeds,
    ``detg.synthetic`` + ``classifiers.synthetic_images``), cached under ``out_dir``: uint8 images,
    the reference image each started from, and the views featurized per prompt as notebook 12 does."""
    from raregal.paper_b import classifiers
    from raregal.paper_b.detg import synthetic

    cfg, feat = run["cfg"], run["feat"]
    refs = synthetic.detg_references(run["etg_ids"], run["store"], cfg.seed)
    prompts = synthetic.detg_prompts(setting.round_weight, setting.lane_weight)
    images, starts, views = [], [], []
    for (name, count), prompt in zip(synthetic.prompt_counts(n).items(), prompts):
        ref_images, ref_ids = refs[name]
        imgs, note = classifiers.synthetic_images(
            cfg.data_dir("models", "diffusion"), prompt, count, out_dir / setting.name / name,
            cfg.classifiers.synthetic_steps, setting.strength, seed=cfg.seed, references=ref_images,
            reference_ids=ref_ids, guidance=setting.guidance)
        if imgs is None:
            raise SystemExit(note)
        images.append(imgs)
        starts.append(ref_images[np.arange(count) % len(ref_images)])  # as start_images gives
        views.append(feat.images(imgs))
    return dict(images=np.concatenate(images), starts=np.concatenate(starts),
                views=np.concatenate(views, axis=1))


def transfer_splits(truth: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Rows of one transfer split: half the real D-ETGs held out for test (the other half trains the
    real-positive reference), test and training negatives disjoint, none a true D-ETG."""
    rng = np.random.default_rng(1000 + seed)
    pos, neg = rng.permutation(np.flatnonzero(truth)), rng.permutation(np.flatnonzero(~truth))
    half = len(pos) // 2
    return {"real_train": pos[:half], "test_pos": pos[half:], "test_neg": neg[:N_TEST_NEGATIVES],
            "train_neg": neg[N_TEST_NEGATIVES:N_TEST_NEGATIVES + N_TRAIN_NEGATIVES]}


def transfer_score(run: dict, positive_views: np.ndarray, split: dict, seed: int) -> dict[str, float]:
    """Train a head on ``positive_views`` (V, M, D) against the split's real negatives; average
    precision and best-threshold F1 on the held-out real D-ETGs against the test negatives, and
    (``_etg``) against the test negatives that are early types (mock truth): does the head find the
    lane, or only early types?"""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    from raregal.paper_b import classifiers

    c, views, feat = run["cfg"].classifiers, run["views"], run["feat"]
    x = np.concatenate([positive_views, views[:, split["train_neg"]]], axis=1)
    y = np.r_[np.ones(positive_views.shape[1], bool), np.zeros(len(split["train_neg"]), bool)]
    settings = classifiers.TrainSettings.from_profile(c, seed=seed)
    torch.manual_seed(seed)
    model = feat.make_model()
    classifiers.train_binary(model, x, y, settings, feat.augment)
    test = np.r_[split["test_pos"], split["test_neg"]]
    y_test = np.r_[np.ones(len(split["test_pos"]), bool), np.zeros(len(split["test_neg"]), bool)]
    p = classifiers.predict_proba(model, views[0, test])
    out = {}
    for suffix, keep in (("", np.ones(len(test), bool)), ("_etg", y_test | run["smooth"][test])):
        prec, rec, _ = precision_recall_curve(y_test[keep], p[keep])
        f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
        out.update({f"ap{suffix}": float(average_precision_score(y_test[keep], p[keep])),
                    f"f1{suffix}": float(f1.max())})
    return out


def summarise_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    """Mean and std over splits of each transfer score, as ``transfer_<score>[_std]``."""
    out = {}
    for key in scores[0]:
        out[f"transfer_{key}"], out[f"transfer_{key}_std"] = mean_std([s[key] for s in scores])
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def measure(run: dict, setting: Setting, n: int, seeds: list[int], out_dir: Path) -> tuple[dict, dict]:
    """(a)–(c) of the module docstring for one setting; returns (row, generated)."""
    from raregal.paper_b import lane_statistic

    t0 = time.perf_counter()
    gen = generate(run, setting, n, out_dir)
    cal = run["calibration"]
    flags = lane_statistic.flag(lane_statistic.lane_statistic(gen["images"], cal.fov_r90), cal)
    e_syn = moment_ellipticity(gen["images"], cal.fov_r90)
    e_ref = moment_ellipticity(gen["starts"], cal.fov_r90)
    scores = [transfer_score(run, gen["views"], transfer_splits(run["truth"], s), s) for s in seeds]
    row = {**asdict(setting), "name": setting.name, "n": len(flags), "lane_flag_rate": float(flags.mean()),
           "ellipticity_median": float(np.nanmedian(e_syn)),
           "ellipticity_change_median": float(np.nanmedian(e_syn - e_ref)),
           **summarise_scores(scores), "seconds": round(time.perf_counter() - t0, 1)}
    return row, gen


def real_references(run: dict, seeds: list[int], n: int) -> dict:
    """The same measures on real galaxies, for scale: real D-ETGs (flag rate, image and true
    ellipticity, transfer of a head trained on the other half of them) and the clean early types the
    synthetic ones start from — the ``n`` starts themselves as positives are the no-lane control: a
    synthetic set that transfers no better than its starts added no lane the classifier uses."""
    from raregal.paper_b import lane_statistic

    cal, store, ids = run["calibration"], run["store"], run["ids"]
    detg_images = store.read(ids[run["truth"]].tolist()).images
    etg_images = store.read(run["etg_ids"].tolist()).images
    e_detg = moment_ellipticity(detg_images, cal.fov_r90)
    starts = run["feat"].images(np.concatenate(list(start_images(run, n).values())))
    scores, control = [], []
    for s in seeds:
        split = transfer_splits(run["truth"], s)
        scores.append(transfer_score(run, run["views"][:, split["real_train"]], split, s))
        control.append(transfer_score(run, starts, split, s))
    split = transfer_splits(run["truth"], seeds[0])
    flag = lambda im: float(lane_statistic.flag(lane_statistic.lane_statistic(im, cal.fov_r90), cal).mean())  # noqa: E731
    true_e = 1 - run["true_q"][run["truth"]]
    n_pos, n_neg, n_etg = len(split["test_pos"]), len(split["test_neg"]), int(run["smooth"][split["test_neg"]].sum())
    return {"real_detg": {"n": len(detg_images), "lane_flag_rate": flag(detg_images),
                          "ellipticity_median": float(np.nanmedian(e_detg)),
                          "true_ellipticity_median": float(np.median(true_e)),
                          "ellipticity_vs_truth_spearman": float(pd.Series(e_detg).corr(pd.Series(true_e),
                                                                                      method="spearman")),
                          **summarise_scores(scores), "n_train_positives": len(split["real_train"])},
            "clean_etg": {"n": len(etg_images), "lane_flag_rate": flag(etg_images),
                          "ellipticity_median": float(np.nanmedian(moment_ellipticity(etg_images, cal.fov_r90))),
                          "n_as_positives": starts.shape[1], **summarise_scores(control)},
            "transfer_test": {"n_positives": n_pos, "n_negatives": n_neg, "n_etg_negatives": n_etg,
                              "chance_ap": n_pos / (n_pos + n_neg), "chance_ap_etg": n_pos / (n_pos + n_etg)}}


def table3(run: dict, syn_views: np.ndarray | None, clean_negatives: bool) -> dict[str, tuple[float, float]]:
    """F1 mean ± std over notebook 12's splits per arm: ``detg.run_table3`` as notebook 12 calls it
    (``clean_negatives``: no true D-ETG outside the known list among the negatives), or with negatives
    drawn from every galaxy outside the known list, as on real data."""
    from raregal.paper_b import classifiers, detg

    cfg, feat, views, known = run["cfg"], run["feat"], run["views"], run["known"]
    c, d = cfg.classifiers, cfg.detg
    settings = classifiers.TrainSettings.from_profile(c, seed=cfg.seed)
    per_seed = detg.run_table3(views, known, settings, feat.make_model, d.n_negatives,
                               range(cfg.seed, cfg.seed + d.n_seeds), d.positive_ratio, syn_views, "not run",
                               feat.augment,
                               eligible=detg.clean_negatives(known, run["truth"]) if clean_negatives else None)
    f1 = detg.table3_summary(per_seed).query("quantity == 'f1'").set_index("method")
    return {m: (float(f1.loc[m, "ours"]), float(f1.loc[m, "std"])) for m in ("baseline", "augmented")}


def table3_few_known(run: dict, syn_views: np.ndarray, k: int) -> dict[str, list[float]]:
    """Test F1 per split of the baseline and augmented arms with only ``k`` known D-ETGs training
    (``detg.run_table3_few_known`` on notebook 12's splits, clean negatives)."""
    from raregal.paper_b import classifiers, detg

    cfg, known = run["cfg"], run["known"]
    c, d = cfg.classifiers, cfg.detg
    settings = classifiers.TrainSettings.from_profile(c, seed=cfg.seed)
    per_seed = detg.run_table3_few_known(run["views"], known, k, settings, run["feat"].make_model, d.n_negatives,
                                         range(cfg.seed, cfg.seed + d.n_seeds), d.positive_ratio, syn_views,
                                         augment=run["feat"].augment,
                                         eligible=detg.clean_negatives(known, run["truth"]))
    f1 = per_seed.query("quantity == 'f1'")
    return {m: f1.loc[f1["method"] == m, "ours"].tolist() for m in ("baseline", "augmented")}


def unlisted_in_negatives(run: dict) -> float:
    """Expected true D-ETGs outside the known list among Table 3's random negatives (mock truth)."""
    d = run["cfg"].detg
    return float(d.n_negatives * (run["truth"] & ~run["known"]).sum() / (~run["known"]).sum())


def grid(args: argparse.Namespace) -> list[Setting]:
    floats = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731 ("" = no setting)
    combos = itertools.product(floats(args.strengths), floats(args.guidances), floats(args.round_weights),
                               floats(args.lane_weights))
    return [Setting(*c) for c in combos]


HEADER = f"{'setting':<22}{'flag':>6}{'ell':>6}{'Δell':>7}{'AP':>14}{'F1':>14}{'AP vs ETG':>14}{'s':>6}"


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        print(f"{r['name']:<22}{r['lane_flag_rate']:6.2f}{r['ellipticity_median']:6.2f}"
              f"{r['ellipticity_change_median']:7.3f}{r['transfer_ap']:8.3f}±{r['transfer_ap_std']:.3f}"
              f"{r['transfer_f1']:8.3f}±{r['transfer_f1_std']:.3f}"
              f"{r['transfer_ap_etg']:8.3f}±{r['transfer_ap_etg_std']:.3f}{r['seconds']:6.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.environ.get("RAREGAL_ROOT", str(Path(__file__).resolve().parents[1])),
                    help="repository whose data/ holds the finished default mock run (only read)")
    ap.add_argument("--out-dir", default=str(Path(tempfile.gettempdir()) / "raregal-detg-synthesis"),
                    help="scratch folder for the generated images (cached between runs)")
    ap.add_argument("--n", type=int, default=100, help="synthetic D-ETGs per setting")
    ap.add_argument("--strengths", default="0.5,0.7,0.8,0.9")
    ap.add_argument("--guidances", default="3")
    ap.add_argument("--round-weights", default="1.2")
    ap.add_argument("--lane-weights", default="1.3")
    ap.add_argument("--seeds", type=int, default=3, help="transfer splits per setting")
    ap.add_argument("--table3", type=int, default=0,
                    help="run Table 3 for this many best settings by transfer AP, and for notebook 12's")
    ap.add_argument("--table3-settings", default="",
                    help="and for these settings, strength:guidance pairs, e.g. 0.8:1.5,0.8:6.5")
    ap.add_argument("--mode", default=None, choices=("frozen", "last_block"),
                    help="classifier features (default: notebook 12's, detg.classifier_mode)")
    ap.add_argument("--table3-n", type=int, default=300, help="synthetic D-ETGs for Table 3 (notebook 12: 300)")
    ap.add_argument("--no-references", action="store_true", help="skip the real-galaxy reference rows")
    ap.add_argument("--table3-known", default="",
                    help="known D-ETGs that train, e.g. 5,20: notebook 12's Table 3 splits with fewer positives")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.environ["RAREGAL_ROOT"] = str(Path(args.root).resolve())
    out_dir, seeds = Path(args.out_dir), list(range(args.seeds))
    from raregal.core import config

    mode = args.mode or config.setup("default", "mock", 0, make_dirs=False).detg.classifier_mode
    run = load_run(seed=0, mode=mode)
    out = {"root": os.environ["RAREGAL_ROOT"], "mode": mode, "n_per_setting": args.n, "transfer_seeds": args.seeds,
           "unlisted_detgs_in_table3_negatives": unlisted_in_negatives(run)}
    if not args.no_references:
        out["references"] = real_references(run, seeds, args.n)
        print(json.dumps(out["references"], indent=1))
    rows = []
    print(HEADER)
    for setting in grid(args):
        rows.append(measure(run, setting, args.n, seeds, out_dir)[0])
        print_rows(rows[-1:])
    out["settings"] = rows
    explicit = [Setting(*map(float, pair.split(":"))) for pair in args.table3_settings.split(",") if pair]
    if args.table3 or explicit:
        best = sorted(rows, key=lambda r: -r["transfer_ap"])[:args.table3]
        own = notebook12_setting(run["cfg"])
        chosen = {own.name: own, **{r["name"]: Setting(r["strength"], r["guidance"], r["round_weight"],
                                                       r["lane_weight"]) for r in best},
                  **{s.name: s for s in explicit}}
        out["table3"] = []
        for name, setting in chosen.items():
            views = generate(run, setting, args.table3_n, out_dir)["views"]
            for clean in (False, True):
                f1 = table3(run, views, clean)
                out["table3"].append({"name": name, "negatives": "no unlisted D-ETG" if clean else "any unlisted",
                                      **{f"{m}_f1": v[0] for m, v in f1.items()},
                                      **{f"{m}_f1_std": v[1] for m, v in f1.items()}})
                print(f"Table 3 {name} ({out['table3'][-1]['negatives']}): baseline F1 {f1['baseline'][0]:.3f} ± "
                      f"{f1['baseline'][1]:.3f}, augmented {f1['augmented'][0]:.3f} ± {f1['augmented'][1]:.3f}")
    known = [int(k) for k in args.table3_known.split(",") if k]
    if known:
        views = generate(run, notebook12_setting(run["cfg"]), args.table3_n, out_dir)["views"]
        out["table3_known"] = []
        for k in known:
            f1 = table3_few_known(run, views, k)
            out["table3_known"].append({"known_training_positives": k, **{f"{m}_f1": v for m, v in f1.items()}})
            print(f"Table 3 with {k} known D-ETGs training: " + ", ".join(
                f"{m} F1 {np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" for m, v in f1.items()))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
