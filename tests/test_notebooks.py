"""The notebooks are the registry's: each .py has its paired .ipynb in sync and follows the house rules."""
import ast
import re
from pathlib import Path

import jupytext
import pytest

from raregal.core import pipeline, registry

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
STEMS = [nb.stem for nb in registry.NOTEBOOKS]


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_exactly_the_registry_notebooks_exist():
    assert sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.py")) == STEMS
    assert sorted(p.stem for p in NB_DIR.glob("[0-9][0-9]_*.ipynb")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_pair_in_sync(stem):
    py = jupytext.read(NB_DIR / f"{stem}.py")
    ipynb = jupytext.read(NB_DIR / f"{stem}.ipynb")
    assert _cells(py) == _cells(ipynb), f"{stem}: run  .venv/bin/jupytext --sync notebooks/{stem}.py"
    tags = lambda nb: [c.metadata.get("tags", []) for c in nb.cells]  # noqa: E731
    assert tags(py) == tags(ipynb), f"{stem}: cell tags differ between .py and .ipynb"


@pytest.mark.parametrize("nb", registry.NOTEBOOKS, ids=STEMS)
def test_header_parameters_and_no_logic(nb):
    src = NB_DIR / f"{nb.stem}.py"
    book = jupytext.read(src)
    first = book.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {nb.number}")
    for out in nb.outputs:
        assert out.id in first.source, f"{nb.stem}: header does not name output {out.id}"
    params = pipeline.notebook_parameters(src)
    assert list(params)[:3] == ["profile", "source", "seed"]
    assert book.metadata["kernelspec"]["name"] == pipeline.KERNEL_NAME
    for cell in book.cells:
        if cell.cell_type == "code":
            tree = ast.parse(re.sub(r"^\s*[%!].*$", "", cell.source, flags=re.M))
            defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
            assert not defs, f"{nb.stem}: logic belongs in lib, found def/class {defs[0].name}"


@pytest.mark.parametrize("nb", registry.NOTEBOOKS, ids=STEMS)
def test_papermill_reads_every_parameter(nb, caplog):
    """papermill's own parser (used by --help-notebook and injection) must understand each line."""
    from papermill.translators import PythonTranslator

    src = NB_DIR / f"{nb.stem}.py"
    cell = next(c for c in jupytext.read(src).cells if "parameters" in c.metadata.get("tags", []))
    with caplog.at_level("WARNING", logger="papermill"):
        names = [p.name for p in PythonTranslator.inspect(cell)]
    assert names == list(pipeline.notebook_parameters(src)), (
        f"{nb.stem}: papermill could not parse {caplog.text.strip()!r} (avoid '=' in the comment)")
