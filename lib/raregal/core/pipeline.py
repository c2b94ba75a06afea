"""Run the numbered notebooks with papermill: ``python -m raregal.core.pipeline`` (what run_all.sh calls).

The jupytext ``.py`` file is the reviewed source, so each run reads it (not a possibly stale .ipynb),
injects ``profile``/``source``/``seed`` and any ``-p name=value`` the notebook declares, and writes
the executed copy to ``build/<source>-<profile>/notebooks/``. ``--papers B`` runs one paper alone
(01 prepares only its data; then 07–12). One progress line per notebook; on failure the notebook,
the failing cell and the error, and a non-zero exit. The run's report
(``paper/build/<source>-<profile>/report.html``) is rebuilt at the end either way.
"""
from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from raregal.core import config, registry

KERNEL_NAME = "raregal"
RUN_RESERVED = ("profile", "source", "seed", "papers")  # -p name=value the same as --name value


class PipelineError(RuntimeError):
    """A problem the user can fix, reported as one line."""


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value`` → (name, value); the value is a Python literal when it parses as one."""
    if "=" not in text:
        raise PipelineError(f"-p expects name=value, got {text!r}")
    name, raw = text.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise PipelineError(f"-p parameter name {name!r} is not a valid Python identifier")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name, value


def notebook_parameters(source_py: Path) -> dict[str, Any]:
    """Names and defaults of the ``parameters``-tagged cell of a jupytext notebook."""
    import jupytext

    nb = jupytext.read(source_py)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise PipelineError(f"{source_py.name}: needs exactly one cell tagged 'parameters', "
                            f"found {len(cells)}")
    params: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        target = (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                  else node.target if isinstance(node, ast.AnnAssign) and node.value else None)
        try:
            if not isinstance(target, ast.Name):
                raise ValueError
            params[target.id] = ast.literal_eval(node.value)
        except ValueError:
            raise PipelineError(f"{source_py.name}: the parameters cell may hold only "
                                f"'name = literal' lines (line {node.lineno}); derived values "
                                f"belong in the next cell") from None
    return params


def check_kernel(kernel_name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise PipelineError(
            f"Jupyter kernel {kernel_name!r} is not installed; run ./run_all.sh once without an "
            f"active environment (it registers it), or: python -m ipykernel install --sys-prefix "
            f"--name {kernel_name}") from None


def _snapshot(paths: config.Paths) -> dict[Path, float]:
    """Modification times of the run's outputs, to list what a notebook wrote."""
    out = {}
    for base in (paths.figures, paths.tables, paths.catalogs):
        if base.exists():
            for p in base.rglob("*"):
                if p.is_file() and not p.name.startswith("."):
                    out[p] = p.stat().st_mtime_ns
    return out


def _written(before: dict[Path, float], after: dict[Path, float]) -> list[Path]:
    return sorted(p for p, m in after.items() if before.get(p) != m)


def _failure_message(err: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        return f"cell {err.cell_index} (execution count {err.exec_count}): {err.ename}: {err.evalue}"
    return f"{type(err).__name__}: {err}"


def run_notebook(nb: registry.Notebook, paths: config.Paths, params: dict[str, Any],
                 kernel_name: str) -> dict:
    """Execute one notebook of the run ``paths.run`` into ``build/<run>/notebooks/``; what it did."""
    import jupytext
    import papermill as pm

    root = paths.root
    source_py = paths.notebooks / f"{nb.stem}.py"
    if not source_py.exists():
        raise PipelineError(f"notebook source {source_py} is missing")
    out_dir = paths.build / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    input_nb = out_dir / f".{nb.stem}.input.ipynb"
    jupytext.write(jupytext.read(source_py), input_nb)
    before = _snapshot(paths)
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        pm.execute_notebook(str(input_nb), str(out_dir / f"{nb.stem}.ipynb"), parameters=params,
                            kernel_name=kernel_name, cwd=str(paths.notebooks),
                            progress_bar=False, log_output=False)
    except Exception as err:  # noqa: BLE001 - every failure is reported, then re-raised as exit code
        status, error = "failed", _failure_message(err)
    finally:
        input_nb.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    written = _written(before, _snapshot(paths))
    return {"notebook": nb.stem, "status": status, "error": error, "seconds": round(seconds, 2),
            "written": [str(p.relative_to(root)) for p in written], "parameters": params}


def _save_timings(build: Path, results: list[dict]) -> None:
    """Merge the notebooks' results into the run's ``build/<run>/timings.json`` (the report reads it)."""
    from raregal.core.outputs import atomic_path

    path = build / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    for r in results:
        timings[r["notebook"]] = r
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(timings, indent=1, default=str))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default", help="smoke | default | paper")
    ap.add_argument("--source", default="mock", help="mock | real")
    ap.add_argument("--papers", default=",".join(registry.PAPERS),
                    help="A, B or A,B: the papers to run (A: notebooks 01–06, B: 01 and 07–12)")
    ap.add_argument("--seed", default=0, help="global seed passed to every notebook")
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 04,05")
    ap.add_argument("--from", dest="start", default=None, help="start at this notebook number")
    ap.add_argument("-p", dest="params", action="append", default=[], metavar="NAME=VALUE",
                    help="extra papermill parameter, given to every selected notebook that declares it")
    ap.add_argument("--kernel", default=KERNEL_NAME, help="Jupyter kernel name")
    ap.add_argument("--no-report", action="store_true",
                    help="skip rebuilding the run's report paper/build/<source>-<profile>/report.html")
    return ap.parse_args(argv)


def check_prepared(selected: list[registry.Notebook], prepared: tuple[str, ...] | None,
                   papers: tuple[str, ...], source: str, profile: str) -> None:
    """A notebook whose paper ``01_fetch`` did not prepare for this run is an error before anything runs.

    ``prepared`` is the run's record (None: no record, nothing to check); when 01 is selected it will
    prepare ``papers`` first.
    """
    if prepared is None:
        return
    fetching = papers if any(nb.number == registry.FETCH for nb in selected) else ()
    for nb in selected:
        lacking = [p for p in nb.papers if p not in (*prepared, *fetching)]
        if nb.number != registry.FETCH and lacking:
            raise PipelineError(
                f"notebook {nb.stem} needs paper {lacking[0]}'s data, but 01_fetch prepared only paper "
                f"{','.join(prepared)} for the {source}/{profile} run: run ./run_all.sh --source "
                f"{source} --profile {profile} --only {registry.FETCH} --papers {lacking[0]} first, "
                f"or leave out paper {lacking[0]}'s notebooks ({registry.numbers_of(lacking[0])})")


def _plan(args: argparse.Namespace, root: Path) -> tuple[int, list[registry.Notebook], dict, dict]:
    """Check everything before the first notebook runs: seed, selected notebooks and their papers'
    data, their parameters (an extra ``-p`` no selected notebook declares is an error), the kernel."""
    extra = dict(parse_param(p) for p in args.params)
    # -p profile=/source=/seed=/papers= are accepted as the same thing as --profile/--source/...
    for key in RUN_RESERVED:
        if key in extra:
            setattr(args, key, extra.pop(key))
    seed = config.validate(args.profile, args.source, args.seed)
    args.papers = registry.parse_papers(args.papers)
    selected = registry.select(args.only, args.start, args.papers)
    interim = config.Paths(root).interim / config.run_name(args.source, args.profile)
    check_prepared(selected, registry.read_prepared(interim), args.papers, args.source, args.profile)
    declared = {nb.number: notebook_parameters(root / "notebooks" / f"{nb.stem}.py") for nb in selected}
    unused = [k for k in extra if not any(k in d for d in declared.values())]
    if unused:
        raise PipelineError(f"no selected notebook declares parameter(s) {', '.join(unused)}")
    check_kernel(args.kernel)
    return seed, selected, declared, extra


def _build_report(root: Path, profile: str, source: str, seed: int) -> bool:
    """Rebuild the run's report; False (with a one-line error) when it refuses the run's folders."""
    from raregal.core.report import ReportError, build_report, compile_pdf

    try:
        path = build_report(root, profile=profile, source=source, seed=seed)
    except ReportError as err:
        print(f"run_all: error: report not built: {err}", file=sys.stderr, flush=True)
        return False
    print(f"run_all: report {path.relative_to(root)} (all runs: "
          f"{(path.parent.parent / 'index.html').relative_to(root)})", flush=True)
    try:
        pdf = compile_pdf(path.with_suffix(".tex"))
        print(f"run_all: report {pdf.relative_to(root)}" if pdf else
              f"run_all: no LaTeX engine on PATH: {path.with_suffix('.tex').relative_to(root)} "
              f"written, no PDF", flush=True)
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        print(f"run_all: warning: PDF report not built: {err}", file=sys.stderr, flush=True)
    return True


def _params(nb: registry.Notebook, args: argparse.Namespace, seed: int, declared: dict,
            extra: dict) -> dict[str, Any]:
    """What papermill injects into ``nb``: the run's profile, source and seed (and papers, where the
    notebook declares it, i.e. 01_fetch), then the ``-p`` values it declares."""
    params: dict[str, Any] = {"profile": args.profile, "source": args.source, "seed": seed}
    if "papers" in declared[nb.number]:
        params["papers"] = ",".join(args.papers)
    params.update({k: v for k, v in extra.items() if k in declared[nb.number]})
    return params


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    root = config.repo_root()
    try:
        seed, selected, declared, extra = _plan(args, root)
    except (config.ConfigError, ValueError, PipelineError) as err:
        print(f"run_all: error: {err}", file=sys.stderr)
        return 2

    paths = config.Paths(root, config.run_name(args.source, args.profile))
    print(f"run_all: profile={args.profile} source={args.source} seed={seed} "
          f"papers={','.join(args.papers)} notebooks={','.join(nb.number for nb in selected)}",
          flush=True)
    results, failed = [], None
    for nb in selected:
        res = run_notebook(nb, paths, _params(nb, args, seed, declared, extra), args.kernel)
        results.append(res)
        names = ", ".join(Path(w).name for w in res["written"]) or "nothing"
        print(f"[{nb.number}] {nb.stem:<28s} {res['status']:<6s} {res['seconds']:7.1f} s  "
              f"wrote {len(res['written'])}: {names}", flush=True)
        if res["status"] != "ok":
            failed = res
            break
    _save_timings(paths.build, results)
    reported = args.no_report or _build_report(root, args.profile, args.source, seed)
    if failed:
        print(f"run_all: FAILED in notebook {failed['notebook']}: {failed['error']}\n"
              f"run_all: executed copy with the traceback: "
              f"{(paths.build / 'notebooks' / failed['notebook']).relative_to(root)}.ipynb",
              file=sys.stderr)
        return 1
    return 0 if reported else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
