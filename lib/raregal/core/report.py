"""``paper/build/report.html``: every output of DESIGN §3 in notebook order, with provenance.

Present figures are shown as small thumbnails (``paper/build/thumbnails/``, loaded lazily) that link to
the full PNG and PDF in ``figures/``; every link is relative, so the repository folder can be moved or
served as it is. Embedding the PNGs instead made a 14 MB page that took seconds to open. Tables show the
paper's value beside ours, missing outputs are listed as missing, and the header says profile, source,
git commit and the seconds each notebook took. Rendered with Jinja2 templates (templates/report.html.j2).
The same content goes to ``paper/build/report.tex`` (templates/report.tex.j2), compiled to PDF when a
LaTeX engine is on PATH (pdflatex, xelatex, lualatex or tectonic).
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

from raregal.core import registry
from raregal.core.outputs import RECORDS_FILE, atomic_path


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


def _figure_entry(root: Path, out: registry.Output, out_dir: Path) -> dict:
    png = root / "figures" / f"{out.id}.png"
    entry = {"id": out.id, "kind": "figure", "reproduces": out.reproduces, "present": png.exists()}
    if png.exists():
        thumb, width, height = write_thumbnail(png, out_dir / THUMBNAIL_DIR)
        pdf = png.with_suffix(".pdf")
        entry.update(thumbnail=_link(thumb, out_dir), width=width, height=height,
                     png=_link(png, out_dir), pdf=_link(pdf, out_dir) if pdf.exists() else None)
        entry.update({k: v for k, v in _json(png.with_suffix(".json")).items() if k != "id"})
    return entry


def _table_entry(root: Path, out: registry.Output, out_dir: Path) -> dict:
    csv = root / "paper" / "tables" / f"{out.id}.csv"
    entry = {"id": out.id, "kind": "table", "reproduces": out.reproduces, "present": csv.exists()}
    if csv.exists():
        df = pd.read_csv(csv)
        entry["columns"] = list(df.columns)
        entry["rows"] = [["" if pd.isna(v) else (f"{v:.4g}" if isinstance(v, float) else str(v))
                          for v in row] for row in df.itertuples(index=False)]
        entry.update({k: v for k, v in _json(csv.with_suffix(".json")).items() if k != "id"})
    return entry


def _catalog_entry(root: Path, out: registry.Output, out_dir: Path) -> dict:
    path = root / "data" / "catalogs" / f"{out.id}.csv"
    entry = {"id": out.id, "kind": "catalog", "reproduces": out.reproduces, "present": path.exists()}
    if path.exists():
        entry["n_rows"] = len(pd.read_csv(path))
        entry["path"] = str(path.relative_to(root))
        entry["href"] = _link(path, out_dir)
    return entry


def collect(root: Path, out_dir: Path | None = None) -> list[dict]:
    """One section per notebook with its outputs (present or missing) and its last run."""
    out_dir = out_dir or root / "paper" / "build"
    timings = _json(root / "build" / "timings.json")
    makers = {"figure": _figure_entry, "table": _table_entry, "catalog": _catalog_entry}
    sections = []
    for nb in registry.NOTEBOOKS:
        sections.append({"stem": nb.stem, "title": nb.title, "run": timings.get(nb.stem),
                         "outputs": [makers[o.kind](root, o, out_dir) for o in nb.outputs]})
    return sections


def unlisted_figures(root: Path, out_dir: Path) -> list[dict]:
    """Figures on disk that no notebook lists (a renamed or new output): shown too, never hidden."""
    listed = {o.id for nb in registry.NOTEBOOKS for o in nb.outputs}
    return [_figure_entry(root, registry.Output(png.stem, "figure", ""), out_dir)
            for png in sorted((root / "figures").glob("*.png")) if png.stem not in listed]


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
LATEX_ENGINES = ("pdflatex", "xelatex", "lualatex", "tectonic")


def latex_escape(text: object) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in str(text))


def _context(root: Path, profile: str, source: str, seed: int, out_dir: Path) -> dict:
    sections = collect(root, out_dir)
    outputs = [o for s in sections for o in s["outputs"]]
    return dict(profile=profile, source=source, seed=seed, commit=git_commit(root),
                generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=sections,
                records=_json(root / "paper" / "tables" / RECORDS_FILE),
                unlisted=unlisted_figures(root, out_dir),
                n_present=sum(o["present"] for o in outputs), n_total=len(outputs),
                total_seconds=sum((s["run"] or {}).get("seconds", 0) for s in sections))


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


def build_report(root: Path, profile: str, source: str, seed: int) -> Path:
    """Write ``paper/build/report.html`` (+ thumbnails) and ``report.tex``; returns the HTML path."""
    out_dir = root / "paper" / "build"
    context = _context(root, profile, source, seed, out_dir)
    html_env = Environment(loader=PackageLoader("raregal.core", "templates"), autoescape=True)
    _remove_unused_thumbnails(out_dir, context)
    path = out_dir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html_env.get_template("report.html.j2").render(**context), encoding="utf-8")
    tex_env = Environment(loader=PackageLoader("raregal.core", "templates"), autoescape=False,
                          block_start_string="((*", block_end_string="*))",
                          variable_start_string="(((", variable_end_string=")))",
                          comment_start_string="((#", comment_end_string="#))")
    tex_env.filters["tex"] = latex_escape
    with atomic_path(out_dir / "report.tex") as tmp:
        tmp.write_text(tex_env.get_template("report.tex.j2").render(root=root.as_posix(), **context),
                       encoding="utf-8")
    return path
