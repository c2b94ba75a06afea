"""``paper/build/report.html``: every output of DESIGN §3 in notebook order, with provenance.

Present figures are embedded (the file stands alone), tables show the paper's value beside ours,
missing outputs are listed as missing, and the header says profile, source, git commit and the
seconds each notebook took. Rendered with a Jinja2 template (templates/report.html.j2).
"""
from __future__ import annotations

import base64
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from . import registry
from .outputs import RECORDS_FILE, atomic_path


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


def _figure_entry(root: Path, out: registry.Output) -> dict:
    png = root / "figures" / f"{out.id}.png"
    entry = {"id": out.id, "kind": "figure", "reproduces": out.reproduces, "present": png.exists()}
    if png.exists():
        entry["data_uri"] = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
        entry.update({k: v for k, v in _json(png.with_suffix(".json")).items() if k != "id"})
    return entry


def _table_entry(root: Path, out: registry.Output) -> dict:
    csv = root / "paper" / "tables" / f"{out.id}.csv"
    entry = {"id": out.id, "kind": "table", "reproduces": out.reproduces, "present": csv.exists()}
    if csv.exists():
        df = pd.read_csv(csv)
        entry["columns"] = list(df.columns)
        entry["rows"] = [["" if pd.isna(v) else (f"{v:.4g}" if isinstance(v, float) else str(v))
                          for v in row] for row in df.itertuples(index=False)]
        entry.update({k: v for k, v in _json(csv.with_suffix(".json")).items() if k != "id"})
    return entry


def _catalog_entry(root: Path, out: registry.Output) -> dict:
    path = root / "data" / "catalogs" / f"{out.id}.csv"
    entry = {"id": out.id, "kind": "catalog", "reproduces": out.reproduces, "present": path.exists()}
    if path.exists():
        entry["n_rows"] = len(pd.read_csv(path))
        entry["path"] = str(path.relative_to(root))
    return entry


def collect(root: Path) -> list[dict]:
    """One section per notebook with its outputs (present or missing) and its last run."""
    timings = _json(root / "build" / "timings.json")
    makers = {"figure": _figure_entry, "table": _table_entry, "catalog": _catalog_entry}
    sections = []
    for nb in registry.NOTEBOOKS:
        sections.append({"stem": nb.stem, "title": nb.title, "run": timings.get(nb.stem),
                         "outputs": [makers[o.kind](root, o) for o in nb.outputs]})
    return sections


def build_report(root: Path, profile: str, source: str, seed: int) -> Path:
    env = Environment(loader=PackageLoader("raregal", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    sections = collect(root)
    outputs = [o for s in sections for o in s["outputs"]]
    records = _json(root / "paper" / "tables" / RECORDS_FILE)
    html = env.get_template("report.html.j2").render(
        profile=profile, source=source, seed=seed, commit=git_commit(root),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), sections=sections,
        records=records, n_present=sum(o["present"] for o in outputs), n_total=len(outputs),
        total_seconds=sum((s["run"] or {}).get("seconds", 0) for s in sections))
    path = root / "paper" / "build" / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
