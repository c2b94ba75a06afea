"""Paper A figures drawn from saved artifacts (so restyling a plot never reruns a measurement).

- :func:`plot_orientation_examples` — notebook 02's ``A-orientation-examples``: grz cutouts with the
  measured major axes (fast path, photutils, and the truth on the mock survey).
- :func:`figure_loss_curves` — notebook 03's ``A-loss-curves``, from the saved ``history.csv`` files.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raregal.paper_a.orientation import is_resolved
from raregal.paper_a.preprocess import BANDS, RAW_SIZE, PreprocessError, processed_dir

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

RGB_SCALES = (6.0, 3.4, 2.2)  # g, r, z weights of the Legacy Surveys viewer's grz colour images
#: (catalog column, colour, line style, legend) of each measured axis drawn on a cutout
AXIS_LINES = (("orientation_fast", "orange", "-", "fast path"),
              ("orientation_photutils", "cyan", "-", "photutils"),
              ("true_orientation", "white", "--", "truth (mock)"))


def pick_orientation_examples(catalog: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Resolved galaxies for the examples figure: photutils-checked ones first, both anomaly classes
    when present, the rest at random (seeded)."""
    resolved = catalog[is_resolved(catalog["source_area"], catalog["source_ellipticity"])]
    rng = np.random.default_rng([seed, 5])
    order = rng.permutation(len(resolved))
    ranked = resolved.iloc[order].assign(
        _checked=lambda d: np.isfinite(d["orientation_photutils"]),
        _rare=lambda d: d["class"] != "normal")
    rare = ranked[ranked["_rare"]].groupby("class").head(1)
    rest = ranked.drop(rare.index).sort_values("_checked", ascending=False, kind="stable")
    return pd.concat([rare, rest]).head(n).drop(columns=["_checked", "_rare"])


def read_raw_cutouts(cfg: "RunConfig", ids) -> np.ndarray:
    """(len(ids), 3, 128, 128) interim grz cutouts [nanomaggies] of the galaxies ``ids``, in that order."""
    import h5py

    from raregal.core.config import require

    src = cfg.data_dir("interim", "survey_a")
    with h5py.File(require(src / "cutouts.h5", made_by="01_fetch"), "r") as h5:
        row_of = pd.Series(np.arange(h5["id"].shape[0]), index=h5["id"][:])
        rows = row_of.loc[ids].to_numpy()
        order = np.argsort(rows)
        imgs = np.empty((len(rows), len(BANDS), RAW_SIZE, RAW_SIZE), np.float32)
        imgs[order] = h5["images"][np.sort(rows)]  # h5py reads increasing indices only
    return imgs


def _draw_cutout_with_axes(ax, img: np.ndarray, gal: pd.Series, crop: int) -> None:
    """The central crop×crop of one cutout as a Lupton grz image (origin lower) with its measured axes."""
    from astropy.visualization import make_lupton_rgb

    lo, c = (RAW_SIZE - crop) // 2, (crop - 1) / 2
    g, r, z = (b[lo:lo + crop, lo:lo + crop] * s for b, s in zip(img, RGB_SCALES))
    stretch = max(float(np.percentile(r, 99.5)) / 2, 0.3)  # floor: sky noise stays dark
    ax.imshow(make_lupton_rgb(z, r, g, minimum=0, stretch=stretch, Q=8), origin="lower")
    half = 0.42 * crop
    for col, colour, style, label in AXIS_LINES:
        if col in gal and np.isfinite(gal[col]):
            a = gal[col]
            ax.plot([c - half * np.cos(a), c + half * np.cos(a)],
                    [c - half * np.sin(a), c + half * np.sin(a)], style, color=colour, lw=1.3,
                    label=label)
    ax.set_xlim(-0.5, crop - 0.5)
    ax.set_ylim(-0.5, crop - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    text = f"{gal['class']} z={gal['z']:.2f}\nfast {np.degrees(gal['orientation_fast']):+.0f}°"
    if np.isfinite(gal["orientation_photutils"]):
        text += f" phot {np.degrees(gal['orientation_photutils']):+.0f}°"
    if "true_orientation" in gal:
        text += f" true {np.degrees(gal['true_orientation']):+.0f}°"
    ax.set_title(text, fontsize=8)


def plot_orientation_examples(cfg: "RunConfig", n: int = 12, crop: int = 64):
    """Grid of grz colour cutouts (z, r, g → R, G, B; origin lower) with the measured major axes:
    fast path (orange), photutils (cyan, where measured) and, on mock data, the truth (white dashed)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from raregal.core.config import require

    catalog = pd.read_parquet(require(processed_dir(cfg) / "catalog.parquet", made_by="02_preprocess"))
    examples = pick_orientation_examples(catalog, n, cfg.seed)
    if examples.empty:
        raise PreprocessError("no resolved galaxies to show")
    imgs = read_raw_cutouts(cfg, examples["id"])
    ncol = min(4, len(examples))
    nrow = int(np.ceil(len(examples) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.1 * ncol, 3.3 * nrow), squeeze=False)
    for ax, img, (_, gal) in zip(axes.flat, imgs, examples.iterrows()):
        _draw_cutout_with_axes(ax, img, gal, crop)
    for ax in axes.flat[len(examples):]:
        ax.set_axis_off()
    shown = [(c, s, lab) for col, c, s, lab in AXIS_LINES if col in examples and examples[col].notna().any()]
    fig.legend([Line2D([], [], color=c, ls=s) for c, s, _ in shown], [lab for *_, lab in shown],
               loc="lower left", ncol=len(shown), fontsize=8, facecolor="0.15", labelcolor="white",
               framealpha=1)
    data = "mock survey" if cfg.source == "mock" else "DECaLS"
    fig.suptitle(f"Orientation of the central galaxy ({data} grz, central {crop}×{crop} of 128 px; "
                 f"angle CCW from +x)", fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def figure_loss_curves(histories: dict[str, pd.DataFrame], title: str = ""):
    """Training and validation loss per epoch for each model, best-validation epoch marked."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(5.2 * len(histories), 3.8), squeeze=False)
    for ax, (name, h) in zip(axes[0], histories.items()):
        ax.plot(h.epoch, h.train_loss, label="train")
        ax.plot(h.epoch, h.val_loss, label="validation")
        best = h.loc[h.val_loss.idxmin()]
        ax.axvline(best.epoch, color="0.5", ls=":", lw=1)
        ax.plot(best.epoch, best.val_loss, "k*", ms=9, label=f"best val (epoch {int(best.epoch)})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss per galaxy")
        ax.set_title(f"{name} CVAE", fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
