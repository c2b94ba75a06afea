"""One look for every figure: the matplotlib settings of a run, kept in one place.

``use_style()`` applies them for the rest of the process (a run calls it once, before any figure is
made, because matplotlib reads most settings when an artist is created); ``style()`` applies them for a
block only. :func:`raregal.core.outputs.save_figure` saves every figure with :data:`SAVEFIG`.

Only how a figure looks is set here (type sizes, line widths, resolution, margins, background, fonts
embedded in PDFs as text) and never what it shows: colour cycle, colour maps, image origin,
interpolation and axis limits keep matplotlib's defaults, so the same code draws the same data with or
without the style.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

SAVE_DPI = 130  # px per inch of the saved PNG: a 8-inch-wide figure is 1040 px

STYLE: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "figure.titlesize": 11,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "figure.dpi": 100,
    "savefig.dpi": SAVE_DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "figure.facecolor": "white",  # saved as the figure's own colour, so a figure may still set another
    "pdf.fonttype": 42,  # TrueType: text in the PDFs stays text (searchable, editable)
    "ps.fonttype": 42,
}

SAVEFIG: dict[str, object] = {"dpi": SAVE_DPI, "bbox_inches": "tight", "pad_inches": 0.05}


def use_style() -> None:
    """Apply :data:`STYLE` to every figure made from now on in this process."""
    import matplotlib

    matplotlib.rcParams.update(STYLE)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply :data:`STYLE` inside the ``with`` block only (tests, one-off figures)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield
