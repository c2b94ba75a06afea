"""Paper A figures drawn from saved artifacts (so restyling a plot never reruns a measurement).

- :func:`plot_orientation_examples` — notebook 02's ``A-orientation-examples``: grz cutouts with the
  measured major axes (fast path, photutils, and the truth on the mock survey).
- :func:`figure_loss_curves` — notebook 03's ``A-loss-curves``, from the saved ``history.csv`` files.
- :func:`figure_latents_vs_catalog` — Fig. 1 (``A-fig1``): physics latents against catalog values.
- :func:`figure_latent_projections` — Fig. 2 (``A-fig2``): vanilla and physics latent pairs, 2-D
  linear-SVM regions.
- :func:`figure_neighbours` — Fig. 3 (``A-fig3``): the normal galaxies nearest the most anomalies.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from raregal.paper_a import values
from raregal.paper_a.anomalies import ANOMALY_CLASSES, NORMAL, decision_grid, linear_boundary_2d
from raregal.paper_a.cvae.loss import PROPERTIES
from raregal.paper_a.latents import r2_linear
from raregal.paper_a.orientation import is_resolved
from raregal.paper_a.preprocess import BANDS, RAW_SIZE, PreprocessError, processed_dir

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

RGB_SCALES = (6.0, 3.4, 2.2)  # g, r, z weights of the Legacy Surveys viewer's grz colour images
#: axis labels of the physics latents' catalog counterparts (Fig. 1)
LABELS = {"orientation": r"orientation $\phi$ [rad]", "z": "redshift $z$",
          "logmstar": r"log $M_*$ [M$_\odot$]", "logsfr": r"log SFR [M$_\odot$/yr]",
          "morphology": "latent 5 (morphology)"}
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


def _one_sigma(catalog: pd.DataFrame, q: str) -> np.ndarray:
    """Catalog 1σ errors of ``q``; for orientation the paper's 0.1 rad (§2)."""
    if q == "orientation":
        return np.full(len(catalog), values.ORIENTATION_SIGMA)
    return catalog[f"{q}_err"].to_numpy()


def figure_latents_vs_catalog(lat_val, cat_val, anomalies: dict[str, tuple[np.ndarray, pd.DataFrame]],
                              title: str = ""):
    """Paper A Fig. 1: each physics latent against its catalog value, 1σ bars in grey, rare classes over."""
    import matplotlib.pyplot as plt

    colours = {"green_pea": "tab:green", "red_spiral": "tab:red"}
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    for k, (ax, q) in enumerate(zip(axes, PROPERTIES)):
        x = cat_val[q].to_numpy()
        ax.errorbar(x, lat_val[:, k], xerr=_one_sigma(cat_val, q), fmt="o", ms=2, color="0.2", ecolor="0.75",
                    elinewidth=0.6, alpha=0.6, label=f"validation ({len(x)})", zorder=1)
        for cls, (lat, cat) in anomalies.items():
            if len(cat):
                ax.errorbar(cat[q], lat[:, k], xerr=_one_sigma(cat, q), fmt="o",
                            ms=4, color=colours.get(cls, "tab:blue"), ecolor=colours.get(cls, "tab:blue"),
                            elinewidth=0.6, label=f"{cls.replace('_', ' ')} ({len(cat)})", zorder=3)
        lo, hi = np.nanpercentile(np.concatenate([x, lat_val[:, k]]), [0.5, 99.5])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, zorder=4)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"catalog {LABELS[q]}")
        ax.set_ylabel(f"latent {k + 1}")
        ax.set_title(f"R² = {r2_linear(lat_val[:, k], x):.2f}", fontsize=10)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def rgb(images) -> np.ndarray:
    """(N, H, W, 3) display images from (N, 3, H, W) g, r, z in [0, 1]: z → red, r → green, g → blue."""
    a = np.asarray(images)[:, ::-1]
    return np.clip(np.moveaxis(a, 1, -1), 0, 1)


COLOURS = {NORMAL: "0.6", "green_pea": "tab:green", "red_spiral": "tab:red"}


def _scatter_classes(ax, X2, labels):
    for c in (NORMAL, *ANOMALY_CLASSES):
        m = labels == c
        if m.any():
            ax.scatter(X2[m, 0], X2[m, 1], s=3 if c == NORMAL else 14, c=COLOURS[c], alpha=0.5 if c == NORMAL else 0.9,
                       label=f"{c.replace('_', ' ')} ({int(m.sum())})", zorder=1 if c == NORMAL else 3,
                       edgecolors="none" if c == NORMAL else "k", linewidths=0.3)


def figure_latent_projections(van_lat, phys_lat, labels, van_pairs, phys_pairs, names_phys, seed: int = 0,
                              title: str = ""):
    """Paper A Fig. 2: top, vanilla latent pairs; bottom, physics latent pairs with 2-D linear-SVM regions."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    labels = np.asarray(labels).astype(str)
    n = max(len(van_pairs), len(phys_pairs))
    fig, axes = plt.subplots(2, n, figsize=(4.6 * n, 8.6))
    for ax, (i, j) in zip(axes[0], van_pairs):
        _scatter_classes(ax, van_lat[:, [i, j]], labels)
        ax.set_xlabel(f"vanilla latent {i + 1}")
        ax.set_ylabel(f"vanilla latent {j + 1}")
    for ax, (i, j) in zip(axes[1], phys_pairs):
        X2 = phys_lat[:, [i, j]]
        lo, hi = np.percentile(X2, 0.5, axis=0), np.percentile(X2, 99.5, axis=0)
        pad = 0.08 * (hi - lo)
        xlim, ylim = (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1])
        clf = linear_boundary_2d(X2, labels, seed)
        xx, yy, zz = decision_grid(clf, xlim, ylim)
        cmap = ListedColormap([COLOURS[c] if c != NORMAL else "white" for c in clf.classes_])
        ax.contourf(xx, yy, zz, levels=np.arange(len(clf.classes_) + 1) - 0.5, cmap=cmap, alpha=0.18)
        ax.contour(xx, yy, zz, levels=np.arange(len(clf.classes_)) + 0.5, colors="k", linewidths=0.7)
        _scatter_classes(ax, X2, labels)
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
        ax.set_xlabel(f"physics latent {i + 1}: {names_phys[i]}")
        ax.set_ylabel(f"physics latent {j + 1}: {names_phys[j]}")
    axes[0][0].legend(fontsize=7, markerscale=2)
    axes[0][0].set_title("vanilla CVAE (no physics term)", loc="left", fontsize=10)
    axes[1][0].set_title("physics-informed CVAE, 2-D linear SVM after SMOTE", loc="left", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def figure_neighbours(images_normal, shared: pd.DataFrame, n_show: int = 10, title: str = ""):
    """Paper A Fig. 3: per anomaly class, the normal galaxies nearest to the most anomalies, as images."""
    import matplotlib.pyplot as plt

    classes = [c for c in ANOMALY_CLASSES[::-1] if c in set(shared["class"])]  # Green Peas left
    cols = 5
    rows_per = int(np.ceil(n_show / cols))
    fig, axes = plt.subplots(rows_per, cols * len(classes), figsize=(1.7 * cols * len(classes), 2.2 * rows_per + 0.5),
                             squeeze=False, gridspec_kw={"hspace": 0.35})
    for ci, c in enumerate(classes):
        sel = shared[shared["class"] == c].head(n_show)
        axes[0][ci * cols + cols // 2].text(0.5, 1.32, f"look-alikes of {c.replace('_', ' ')}s",
                                            transform=axes[0][ci * cols + cols // 2].transAxes, ha="center",
                                            fontsize=11, color=COLOURS[c])
        for k in range(rows_per * cols):
            ax = axes[k // cols][ci * cols + k % cols]
            ax.axis("off")
            if k < len(sel):
                r = sel.iloc[k]
                ax.imshow(rgb(images_normal[[int(r.normal)]])[0])
                ax.set_title(f"{int(r.n_anomalies)} × {c.replace('_', ' ')}\nd = {r.mean_distance:.2f}", fontsize=7)
    fig.suptitle(title, y=1.08)
    return fig
