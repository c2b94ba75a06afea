"""Figures, tables and single numbers, written the one way the report and reviewers expect.

Each run (source, profile) writes into its own folders, ``figures/<source>-<profile>/`` and
``paper/tables/<source>-<profile>/`` (``cfg.paths``), so a real run never overwrites the mock run's
outputs; a file there stamped by another run is refused, never overwritten. Every write is atomic
(temporary names in the same folder, renamed once all are written) so a failed step never leaves a
half-written output. Figures made from the mock survey are stamped as such on the image itself.
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


@contextlib.contextmanager
def atomic_paths(*paths: Path) -> Iterator[list[Path]]:
    """:func:`atomic_path` for several files that belong together (a figure's PNG, PDF and sidecar):
    all are written to temporary names first and renamed only when every write succeeded."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_path(p)) for p in paths]


class OutputOwnerError(ValueError):
    """A run was asked to overwrite an output that another (source, profile) run wrote."""


def check_owner(stamped: dict, where: Path, cfg: "RunConfig") -> None:
    """Refuse ``where`` when its stamp (``source``, ``profile``) names another run than ``cfg``'s.

    Runs keep their outputs apart (``figures/<source>-<profile>/``); a file of another run in this
    run's folder was moved or copied there by hand, and overwriting it would silently mix the two.
    """
    theirs = (stamped.get("source"), stamped.get("profile"))
    if theirs == (cfg.source, cfg.profile):
        return
    from raregal.core.config import run_name

    shown = where.relative_to(cfg.paths.root) if where.is_relative_to(cfg.paths.root) else where
    home = shown.parent.parent / run_name(str(theirs[0]), str(theirs[1]))
    raise OutputOwnerError(
        f"{shown} belongs to the {theirs[0]}/{theirs[1]} run, not to this {cfg.source}/{cfg.profile} "
        f"run, whose outputs go to {shown.parent}/ only: move {shown.parent / shown.stem}.* to "
        f"{home}/ (the run that wrote it) or delete it, then rerun; nothing was written")


def _check_sidecar(meta_path: Path, cfg: "RunConfig") -> None:
    if meta_path.exists():
        check_owner(json.loads(meta_path.read_text()), meta_path, cfg)


def _check_id(output_id: str) -> str:
    if not output_id or any(c in output_id for c in "/\\ ") or output_id.startswith("."):
        raise ValueError(f"output id {output_id!r} must be a plain file stem like 'A-fig1'")
    return output_id


def provenance_label(cfg: "RunConfig") -> str:
    data = "MOCK SURVEY (simulated data)" if cfg.source == "mock" else "real data"
    return f"{data} · profile {cfg.profile} · seed {cfg.seed}"


def save_figure(fig: "Figure", output_id: str, cfg: "RunConfig", caption: str = "",
                formats: tuple[str, ...] = ("png", "pdf"), dpi: int = plotting.SAVE_DPI) -> list[Path]:
    """Write ``figures/<source>-<profile>/<id>.png`` (+ pdf) and a caption sidecar; stamp the data
    source on the image.

    Every figure is saved the same way (:data:`raregal.core.plotting.SAVEFIG`: resolution in px per
    inch, tight margins); its look comes from :func:`raregal.core.plotting.use_style`. A figure of the
    same id stamped by another run is refused (:class:`OutputOwnerError`) before anything is drawn.
    """
    _check_id(output_id)
    meta_path = cfg.paths.figures / f"{output_id}.json"
    _check_sidecar(meta_path, cfg)
    # just below the figure's lower edge (bbox_inches="tight" keeps it), so it never covers an axis label
    fig.text(0.995, -0.005, provenance_label(cfg), ha="right", va="top", fontsize=7,
             color="firebrick" if cfg.source == "mock" else "0.3", alpha=0.9)
    written = [cfg.paths.figures / f"{output_id}.{fmt}" for fmt in formats] + [meta_path]
    meta = {"id": output_id, "caption": caption, "source": cfg.source, "profile": cfg.profile,
            "seed": cfg.seed}
    with atomic_paths(*written) as tmps:
        for fmt, tmp in zip(formats, tmps):
            fig.savefig(tmp, format=fmt, **{**plotting.SAVEFIG, "dpi": dpi})
        tmps[-1].write_text(json.dumps(meta, indent=1))
    return written


def _format_cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def save_table(df: pd.DataFrame, output_id: str, cfg: "RunConfig", caption: str = "") -> list[Path]:
    """Write ``paper/tables/<source>-<profile>/<id>.csv`` (+ .md, .tex, .json sidecar) in the long
    format; adds source and profile. A table of the same id stamped by another run is refused."""
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
    _check_sidecar(base.with_suffix(".json"), cfg)
    text = out.map(_format_cell)
    md = "| " + " | ".join(text.columns) + " |\n|" + "---|" * len(text.columns) + "\n"
    md += "\n".join("| " + " | ".join(row) + " |" for row in text.itertuples(index=False))
    if caption:
        md = f"{caption}\n\n{md}"
    meta = {"id": output_id, "caption": caption, "source": cfg.source, "profile": cfg.profile,
            "seed": cfg.seed}
    written = [base.with_suffix(s) for s in (".csv", ".md", ".tex", ".json")]
    with atomic_paths(*written) as (csv, markdown, tex, sidecar):
        out.to_csv(csv, index=False)
        markdown.write_text(md + "\n")
        text.to_latex(tex, index=False, escape=True, caption=caption or None, label=f"tab:{output_id}")
        sidecar.write_text(json.dumps(meta, indent=1))
    return written


def load_table(output_id: str, cfg: "RunConfig") -> pd.DataFrame:
    from raregal.core.config import require

    return pd.read_csv(require(cfg.paths.tables / f"{_check_id(output_id)}.csv", made_by="its notebook"))


def record(name: str, value: float | int | str, cfg: "RunConfig", paper: Any = None,
           unit: str = "") -> dict:
    """Keep a single number (e.g. an R², a timing) in ``paper/tables/<source>-<profile>/records.json``
    for the report; a records file holding another run's numbers is refused."""
    _check_id(name)
    path = cfg.paths.tables / RECORDS_FILE
    records = json.loads(path.read_text()) if path.exists() else {}
    for entry in records.values():
        check_owner(entry, path, cfg)
    entry = {"ours": value, "paper": paper, "unit": unit, "source": cfg.source,
             "profile": cfg.profile, "seed": cfg.seed}
    records[name] = entry
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(records, indent=1, default=float))
    return entry
