"""The plots of notebook 12 (Ma et al. 2025 Figs 6–9, D4), made from the saved catalog and tables."""
from __future__ import annotations

import textwrap
from typing import Any, Sequence

import numpy as np

from raregal.paper_b.detg.samples import bootstrap_cdf, kde

SAMPLE_COLOURS = {"new": "tab:red", "known": "tab:blue", "control": "black"}
NO_PHYSICAL = ("the catalog has no {column} values: real data needs the physical columns (z, rmag, "
               "logmstar, logsfr, loghalomass; a gz2_physical table in data/raw/catalogs, read by "
               "notebook 01)")


def _has_values(df: Any, column: str) -> bool:
    return column in df and bool(np.isfinite(np.asarray(df[column], float)).any())


def say_what_is_missing(ax, samples: dict[str, Any], column: str) -> bool:
    """Write on ``ax`` why samples are absent (their ``attrs['missing']``) and, when no sample has a
    finite ``column``, that the catalog lacks it, instead of leaving an empty panel; True when
    nothing can be drawn."""
    gaps = [f"{name}: {df.attrs['missing']}" for name, df in samples.items() if df.attrs.get("missing")]
    if not any(_has_values(df, column) for df in samples.values()):
        ax.set_axis_off()
        lines = [textwrap.fill(t, 60) for t in (NO_PHYSICAL.format(column=column), *gaps)]
        ax.text(0.5, 0.5, "\n\n".join(lines), ha="center", va="center", fontsize=8, transform=ax.transAxes)
        return True
    if gaps:
        ax.text(0.98, 0.02, "\n".join(gaps), ha="right", va="bottom", fontsize=7, color="0.3",
                transform=ax.transAxes)
    return False


def image_rows(rows: Sequence[tuple[str, Any]], n_cols: int = 6, title: str = ""):
    """A grid: one row per (label, uint8 (N, H, W, 3) images), at most ``n_cols`` each."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), n_cols, figsize=(1.5 * n_cols, 1.6 * len(rows) + 0.4),
                             squeeze=False)
    for (label, imgs), ax_row in zip(rows, axes):
        imgs = np.zeros((0, 1, 1, 3), np.uint8) if imgs is None else np.asarray(imgs)
        for j, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(imgs):
                ax.imshow(imgs[j])
            else:
                ax.axis("off")
        ax_row[0].set_ylabel(f"{label}\n(n={len(imgs)})" if len(imgs) < n_cols else label, fontsize=8)
        if len(imgs) == 0:
            # the axes are off, so the row label would not show: name the empty row in the text
            ax_row[0].text(0.0, 0.5, f"{label}: none", ha="left", va="center", fontsize=8,
                           transform=ax_row[0].transAxes)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_kdes(samples: dict[str, Any], column: str, grid: Any, xlabel: str, ax=None):
    """One filled KDE of ``column`` per sample on ``grid`` (Fig. 8); a sample with fewer than 2
    finite values has no density and is left out of the plot; what is missing is written on it
    (:func:`say_what_is_missing`)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    if say_what_is_missing(ax, samples, column):
        return ax.figure
    for name, df in samples.items():
        vals = np.asarray(df[column], float)
        if np.isfinite(vals).sum() < 2:
            continue
        ax.plot(grid, kde(vals, grid), color=SAMPLE_COLOURS.get(name), label=f"{name} (n={len(vals)})")
        ax.fill_between(grid, 0, kde(vals, grid), color=SAMPLE_COLOURS.get(name), alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return ax.figure


def plot_cdf_panels(samples: dict[str, Any], panels: Sequence[tuple[str, str]], n_boot: int = 200,
                    seed: int = 0, n_grid: int = 200, title: str = ""):
    """One panel per (column, axis label): the CDF of each sample with its 1σ bootstrap band; a
    panel without values says what is missing (:func:`say_what_is_missing`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (column, xlabel) in zip(axes[0], panels):
        if say_what_is_missing(ax, samples, column):
            continue
        allv = np.concatenate([np.asarray(df[column], float) for df in samples.values()])
        allv = allv[np.isfinite(allv)]
        grid = np.linspace(allv.min(), allv.max(), n_grid)
        for name, df in samples.items():
            if np.isfinite(np.asarray(df[column], float)).sum() == 0:
                continue
            c = bootstrap_cdf(df[column], grid, n_boot, seed)
            colour = SAMPLE_COLOURS.get(name)
            ax.plot(grid, c["cdf"], color=colour, label=f"{name} (n={c['n']})")
            ax.fill_between(grid, c["lo"], c["hi"], color=colour, alpha=0.25)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("cumulative fraction")
        ax.legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
