"""One report per run, ``paper/build/<source>-<profile>/report.html``, and ``paper/build/index.html``
listing every run's report.

A run's report shows every output of DESIGN §3 in notebook order, with provenance, read from that run's
folders only (``figures/<source>-<profile>/``, ``paper/tables/<source>-<profile>/``); a file there
stamped by another source or profile is refused (:class:`ReportError`), so a report never mixes real
and mock results. Present figures are shown as small thumbnails (``thumbnails/`` beside the report,
loaded lazily) that link to the full PNG and PDF; every link is relative, so the repository folder can
be moved or served as it is. Embedding the PNGs instead made a 14 MB page that took seconds to open.
Tables show the paper's value beside ours, missing outputs are listed as missing, and the header says
profile, source, git commit and the seconds each notebook took. Rendered with Jinja2 templates
(templates/report.html.j2, index.html.j2). The same content goes to ``report.tex``
(templates/report.tex.j2), compiled to PDF when a LaTeX engine is on PATH (pdflatex, xelatex, lualatex
or tectonic).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader
from PIL import Image

from raregal.core import config, registry
from raregal.core.outputs import RECORDS_FILE, atomic_path

RUN_FILE = "run.json"  # beside each run's report: what the index page lists
INDEX_FILE = "index.html"


class ReportError(ValueError):
    """A run's folder holds an output stamped by another run; the report refuses to mix them."""


def git_commit(root: Path) -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


THUMBNAIL_WIDTH = 900  # px: the report's text column is 1100 px wide; a click opens the full figure
THUMBNAIL_DIR = "thumbnails"


def write_thumbnail(png: Path, out_dir: Path, width: int = THUMBNAIL_WIDTH) -> tuple[Path, int, int]:
    """A copy of ``png`` at most ``width`` px wide in ``out_dir``; returns (path, width, height) in px.

    Saved as JPEG or as a 256-colour PNG, whichever is smaller (JPEG suits galaxy images, the palette
    PNG keeps line plots and text sharp). The name holds a hash of the figure, so a browser never
    shows a stale cached thumbnail and an unchanged figure is not resized again.
    """
    digest = hashlib.sha256(png.read_bytes()).hexdigest()[:12]
    stem = f"{png.stem}.{digest}"
    for old in out_dir.glob(f"{png.stem}.*"):
        if old.name.startswith(stem + "."):
            with Image.open(old) as im:
                return old, im.width, im.height
        old.unlink()
    with Image.open(png) as im:
        rgb = im.convert("RGB")
    if rgb.width > width:
        rgb = rgb.resize((width, max(1, round(rgb.height * width / rgb.width))), Image.LANCZOS)
    jpeg, palette = io.BytesIO(), io.BytesIO()
    rgb.save(jpeg, "JPEG", quality=82, optimize=True, progressive=True)
    rgb.quantize(256, method=Image.Quantize.MEDIANCUT).save(palette, "PNG", optimize=True)
    data, ext = min((jpeg.getvalue(), "jpg"), (palette.getvalue(), "png"), key=lambda d: len(d[0]))
    path = out_dir / f"{stem}.{ext}"
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path, rgb.width, rgb.height


def _link(path: Path, out_dir: Path) -> str:
    """``path`` relative to the report's folder, as a URL path (the folder may move)."""
    return Path(os.path.relpath(path, out_dir)).as_posix()


def _check_stamp(stamped: dict, where: Path, paths: config.Paths) -> None:
    """Refuse an output whose stamp names another run than the report's (``paths.run``)."""
    theirs = config.run_name(stamped.get("source"), stamped.get("profile"))
    if theirs != paths.run:
        shown = where.relative_to(paths.root)
        raise ReportError(
            f"the {paths.run} report refuses {shown}: it is stamped {theirs}, and a report never mixes "
            f"runs; move {shown.parent / shown.stem}.* to {shown.parent.parent / theirs}/ or delete "
            f"it and rerun the notebook that makes it with this run's --source and --profile")


def check_run_folders(paths: config.Paths) -> None:
    """Every figure, table and record in the run's folders must be stamped by this run.

    Sidecars (``<id>.json``) and records carry ``source``/``profile``; a table without a sidecar is
    checked by its own ``source``/``profile`` columns. Called before anything of the report is written.
    """
    stamped = sorted(paths.figures.glob("*.json")) + sorted(paths.tables.glob("*.json"))
    for path in stamped:
        if path.name != RECORDS_FILE:
            _check_stamp(_json(path), path, paths)
    for entry in _json(paths.tables / RECORDS_FILE).values():
        _check_stamp(entry, paths.tables / RECORDS_FILE, paths)
    for csv in sorted(paths.tables.glob("*.csv")):
        if not csv.with_suffix(".json").exists():
            df = pd.read_csv(csv)
            if {"source", "profile"} <= set(df.columns):
                for run in df[["source", "profile"]].drop_duplicates().to_dict("records"):
                    _check_stamp(run, csv, paths)


def _meta(path: Path) -> dict:
    return {k: v for k, v in _json(path).items() if k != "id"}


def _figure_entry(paths: config.Paths, out: registry.Output, out_dir: Path) -> dict:
    png = paths.figures / f"{out.id}.png"
    entry = {"id": out.id, "kind": "figure", "reproduces": out.reproduces, "present": png.exists()}
    if png.exists():
        meta = _meta(png.with_suffix(".json"))
        thumb, width, height = write_thumbnail(png, out_dir / THUMBNAIL_DIR)
        pdf = png.with_suffix(".pdf")
        entry.update(thumbnail=_link(thumb, out_dir), width=width, height=height,
                     png=_link(png, out_dir), pdf=_link(pdf, out_dir) if pdf.exists() else None,
                     pdf_path=pdf.as_posix(), **meta)
    return entry


def _table_entry(paths: config.Paths, out: registry.Output, out_dir: Path) -> dict:
    csv = paths.tables / f"{out.id}.csv"
    entry = {"id": out.id, "kind": "table", "reproduces": out.reproduces, "present": csv.exists()}
    if csv.exists():
        meta = _meta(csv.with_suffix(".json"))
        df = pd.read_csv(csv)
        entry["columns"] = list(df.columns)
        entry["rows"] = [["" if pd.isna(v) else (f"{v:.4g}" if isinstance(v, float) else str(v))
                          for v in row] for row in df.itertuples(index=False)]
        entry.update(tex_path=csv.with_suffix(".tex").as_posix(), **meta)
    return entry


def _catalog_entry(paths: config.Paths, out: registry.Output, out_dir: Path) -> dict:
    path = paths.catalogs / f"{out.id}.csv"
    entry = {"id": out.id, "kind": "catalog", "reproduces": out.reproduces, "present": path.exists()}
    if path.exists():
        entry["n_rows"] = len(pd.read_csv(path))
        entry["path"] = str(path.relative_to(paths.root))
        entry["href"] = _link(path, out_dir)
    return entry


def collect(paths: config.Paths, out_dir: Path) -> list[dict]:
    """One section per notebook of the run with its outputs (present or missing) and its last run.

    Only the papers this run prepared are shown (all of them when 01_fetch left no record), so a
    paper-B-only run does not list paper A's outputs as missing.
    """
    prepared = registry.read_prepared(paths.interim / paths.run) or registry.PAPERS
    timings = _json(paths.build / "timings.json")
    makers = {"figure": _figure_entry, "table": _table_entry, "catalog": _catalog_entry}
    sections = []
    for nb in registry.NOTEBOOKS:
        if set(nb.papers) & set(prepared):
            shown = [o for o in nb.outputs if o.paper in ("", *prepared)]
            sections.append({"stem": nb.stem, "title": nb.title, "run": timings.get(nb.stem),
                             "outputs": [makers[o.kind](paths, o, out_dir) for o in shown]})
    return sections


def unlisted_figures(paths: config.Paths, out_dir: Path) -> list[dict]:
    """Figures of the run that no notebook lists (a renamed or new output): shown too, never hidden."""
    listed = {o.id for nb in registry.NOTEBOOKS for o in nb.outputs}
    return [_figure_entry(paths, registry.Output(png.stem, "figure", ""), out_dir)
            for png in sorted(paths.figures.glob("*.png")) if png.stem not in listed]


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
LATEX_ENGINES = ("pdflatex", "xelatex", "lualatex", "tectonic")


def latex_escape(text: object) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _context(paths: config.Paths, profile: str, source: str, seed: int, out_dir: Path) -> dict:
    sections = collect(paths, out_dir)
    outputs = [o for s in sections for o in s["outputs"]]
    return dict(profile=profile, source=source, seed=seed, commit=git_commit(paths.root),
                generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=sections,
                records=_json(paths.tables / RECORDS_FILE), unlisted=unlisted_figures(paths, out_dir),
                n_present=sum(o["present"] for o in outputs), n_total=len(outputs),
                total_seconds=sum((s["run"] or {}).get("seconds", 0) for s in sections),
                papers=",".join(registry.read_prepared(paths.interim / paths.run) or registry.PAPERS))


def _remove_unused_thumbnails(out_dir: Path, context: dict) -> None:
    """Thumbnails of figures that are gone (deleted or renamed) would only fill the folder."""
    shown = [o for s in context["sections"] for o in s["outputs"]] + context["unlisted"]
    used = {out_dir / o["thumbnail"] for o in shown if o.get("thumbnail")}
    for thumb in (out_dir / THUMBNAIL_DIR).glob("*"):
        if thumb not in used:
            thumb.unlink()


def compile_pdf(tex: Path) -> Path | None:
    """Run the first LaTeX engine found on PATH; None when there is none (the .tex stays)."""
    engine = next((e for e in LATEX_ENGINES if shutil.which(e)), None)
    if engine is None:
        return None
    cmd = [engine, tex.name] if engine == "tectonic" else [
        engine, "-interaction=nonstopmode", "-halt-on-error", tex.name]
    for _ in range(1 if engine == "tectonic" else 2):  # twice: references
        res = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise RuntimeError(f"{engine} failed on {tex}; see {tex.with_suffix('.log')}")
    return tex.with_suffix(".pdf")


def _environment(latex: bool = False) -> Environment:
    if not latex:
        return Environment(loader=PackageLoader("raregal.core", "templates"), autoescape=True)
    env = Environment(loader=PackageLoader("raregal.core", "templates"), autoescape=False,
                      block_start_string="((*", block_end_string="*))",
                      variable_start_string="(((", variable_end_string=")))",
                      comment_start_string="((#", comment_end_string="#))")
    env.filters["tex"] = latex_escape
    return env


def build_report(root: Path, profile: str, source: str, seed: int) -> Path:
    """Write the run's ``paper/build/<source>-<profile>/report.html`` (+ thumbnails), ``report.tex``
    and ``run.json``, then the index of every run; returns the HTML path.

    Raises :class:`ReportError` (before writing anything) when the run's folders hold an output
    stamped by another source or profile.
    """
    paths = config.Paths(root, config.run_name(source, profile))
    check_run_folders(paths)
    out_dir = paths.report_dir
    context = _context(paths, profile, source, seed, out_dir)
    _remove_unused_thumbnails(out_dir, context)
    path = out_dir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(_environment().get_template("report.html.j2").render(**context), encoding="utf-8")
    with atomic_path(out_dir / "report.tex") as tmp:
        tmp.write_text(_environment(latex=True).get_template("report.tex.j2").render(**context),
                       encoding="utf-8")
    run = {k: context[k] for k in ("source", "profile", "seed", "commit", "generated", "n_present",
                                    "n_total", "papers")}
    with atomic_path(out_dir / RUN_FILE) as tmp:
        tmp.write_text(json.dumps({**run, "report": _link(path, paths.reports)}, indent=1))
    build_index(root)
    return path


def list_runs(root: Path) -> list[dict]:
    """Every run with a report under ``paper/build/``, as its ``run.json`` says, by source and profile."""
    runs = [_json(p) for p in sorted(config.Paths(root).reports.glob(f"*/{RUN_FILE}"))]
    order = {p: i for i, p in enumerate(config.PROFILES)}
    return sorted((r for r in runs if r), key=lambda r: (r["source"], order.get(r["profile"], 99)))


def build_index(root: Path) -> Path:
    """``paper/build/index.html``: one line per run (source, profile, date, commit, link to its report)."""
    path = config.Paths(root).reports / INDEX_FILE
    html = _environment().get_template("index.html.j2").render(runs=list_runs(root))
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
