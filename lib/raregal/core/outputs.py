"""Figures, tables and single numbers, written the one way the report and reviewers expect.

Every write is atomic (temporary name in the same folder, then rename) so a failed step never leaves a
half-written file. Figures made from the mock survey are stamped as such on the image itself.
Tables are long format: key columns naming the quantity, then ``ours``, ``paper`` (published value,
empty where none), ``source`` and ``profile``; extra columns (std, n, ...) follow.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pandas as pd

from raregal.core import plotting

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from raregal.core.config import RunConfig

TABLE_VALUE_COLUMNS = ("ours", "paper")
TABLE_RUN_COLUMNS = ("source", "profile")
RECORDS_FILE = "records.json"
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; give the file the mode a plain open() would
            os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _check_id(output_id: str) -> str:
    if not output_id or any(c in output_id for c in "/\\ ") or output_id.startswith("."):
        raise ValueError(f"output id {output_id!r} must be a plain file stem like 'A-fig1'")
    return output_id


def provenance_label(cfg: "RunConfig") -> str:
    data = "MOCK SURVEY (simulated data)" if cfg.source == "mock" else "real data"
    return f"{data} · profile {cfg.profile} · seed {cfg.seed}"


def save_figure(fig: "Figure", output_id: str, cfg: "RunConfig", caption: str = "",
                formats: tuple[str, ...] = ("png", "pdf"), dpi: int = plotting.SAVE_DPI) -> list[Path]:
    """Write ``figures/<id>.png`` (+ pdf) and a caption sidecar; stamp the data source on the image.

    Every figure is saved the same way (:data:`raregal.core.plotting.SAVEFIG`: resolution in px per
    inch, tight margins); its look comes from :func:`raregal.core.plotting.use_style`.
    """
    _check_id(output_id)
    # just below the figure's lower edge (bbox_inches="tight" keeps it), so it never covers an axis label
    fig.text(0.995, -0.005, provenance_label(cfg), ha="right", va="top", fontsize=7,
             color="firebrick" if cfg.source == "mock" else "0.3", alpha=0.9)
    written = []
    for fmt in formats:
        target = cfg.paths.figures / f"{output_id}.{fmt}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, **{**plotting.SAVEFIG, "dpi": dpi})
        written.append(target)
    meta = {"id": output_id, "caption": caption, "source": cfg.source, "profile": cfg.profile,
            "seed": cfg.seed}
    meta_path = cfg.paths.figures / f"{output_id}.json"
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    written.append(meta_path)
    return written


def _format_cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def save_table(df: pd.DataFrame, output_id: str, cfg: "RunConfig", caption: str = "") -> list[Path]:
    """Write ``paper/tables/<id>.csv`` (+ .md, .tex) in the long format; adds source and profile."""
    _check_id(output_id)
    missing = [c for c in TABLE_VALUE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"table {output_id}: long format needs columns {missing} "
                         f"(have {list(df.columns)}); put the published value in 'paper', "
                         f"NaN where the paper has none")
    if df.empty:
        raise ValueError(f"table {output_id} is empty: nothing was measured")
    out = df.copy()
    out["source"] = cfg.source
    out["profile"] = cfg.profile
    keys = [c for c in out.columns if c not in (*TABLE_VALUE_COLUMNS, *TABLE_RUN_COLUMNS)]
    # key columns first, then ours/paper, then the run columns; extras (std, n) after.
    extras = [c for c in keys if c in ("std", "n", "err", "note")]
    keys = [c for c in keys if c not in extras]
    out = out[[*keys, *TABLE_VALUE_COLUMNS, *extras, *TABLE_RUN_COLUMNS]]
    base = cfg.paths.tables / output_id
    written = []
    with atomic_path(base.with_suffix(".csv")) as tmp:
        out.to_csv(tmp, index=False)
    written.append(base.with_suffix(".csv"))
    text = out.map(_format_cell)
    md = "| " + " | ".join(text.columns) + " |\n|" + "---|" * len(text.columns) + "\n"
    md += "\n".join("| " + " | ".join(row) + " |" for row in text.itertuples(index=False))
    if caption:
        md = f"{caption}\n\n{md}"
    with atomic_path(base.with_suffix(".md")) as tmp:
        tmp.write_text(md + "\n")
    written.append(base.with_suffix(".md"))
    with atomic_path(base.with_suffix(".tex")) as tmp:
        text.to_latex(tmp, index=False, escape=True, caption=caption or None, label=f"tab:{output_id}")
    written.append(base.with_suffix(".tex"))
    meta_path = base.with_suffix(".json")
    with atomic_path(meta_path) as tmp:
        tmp.write_text(json.dumps({"id": output_id, "caption": caption, "source": cfg.source,
                                   "profile": cfg.profile, "seed": cfg.seed}, indent=1))
    written.append(meta_path)
    return written


def load_table(output_id: str, cfg: "RunConfig") -> pd.DataFrame:
    from raregal.core.config import require

    return pd.read_csv(require(cfg.paths.tables / f"{_check_id(output_id)}.csv", made_by="its notebook"))


def record(name: str, value: float | int | str, cfg: "RunConfig", paper: Any = None,
           unit: str = "") -> dict:
    """Keep a single number (e.g. an R², a timing) in ``paper/tables/records.json`` for the report."""
    _check_id(name)
    path = cfg.paths.tables / RECORDS_FILE
    records = json.loads(path.read_text()) if path.exists() else {}
    entry = {"ours": value, "paper": paper, "unit": unit, "source": cfg.source,
             "profile": cfg.profile, "seed": cfg.seed}
    records[name] = entry
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(records, indent=1, default=float))
    return entry
