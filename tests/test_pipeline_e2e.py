"""End to end: ./run_all.sh --profile smoke in a copy of the repository writes the report."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raregal.core import registry

ROOT = Path(__file__).resolve().parents[1]


def _copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RAREGAL_ROOT", "CONDA_PREFIX")}
    env["VIRTUAL_ENV"] = sys.prefix  # reuse this environment: no second install
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run(["bash", str(repo / "run_all.sh"), *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_smoke_run_writes_report_then_reruns_one_notebook(tmp_path):
    repo = _copy_repo(tmp_path / "repo")
    res = _run(repo, "--profile", "smoke")
    assert res.returncode == 0, f"stdout:\n{res.stdout}\nstderr:\n{res.stderr[-4000:]}"
    lines = [l for l in res.stdout.splitlines() if l.startswith("[")]
    assert [l[1:3] for l in lines] == [nb.number for nb in registry.NOTEBOOKS]
    assert all(" ok " in l and " s  wrote " in l for l in lines)
    html = (repo / "paper" / "build" / "report.html").read_text()
    assert "profile</th><td>smoke" in html
    for nb in registry.NOTEBOOKS:
        assert (repo / "build" / "notebooks" / f"{nb.stem}.ipynb").exists()
        assert nb.stem in html
    assert not (repo / "notebooks" / ".ipynb_checkpoints").exists()

    again = _run(repo, "--profile", "smoke", "--only", "01", "-p", "seed=3")
    assert again.returncode == 0, again.stderr[-4000:]
    assert [l[1:3] for l in again.stdout.splitlines() if l.startswith("[")] == ["01"]
    timings = json.loads((repo / "build" / "timings.json").read_text())
    assert timings["01_fetch"]["parameters"]["seed"] == 3
    assert timings["02_preprocess"]["parameters"]["seed"] == 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_failing_notebook_names_cell_and_exits_nonzero(tmp_path):
    repo = _copy_repo(tmp_path / "repo")
    nb = repo / "notebooks" / "03_train_cvae.py"
    text = nb.read_text()
    after_params = text.index("\n# %%", text.index('# %% tags=["parameters"]') + 1)
    nb.write_text(text[:after_params] + '\n# %%\nraise ValueError("deliberate failure for the test")\n'
                  + text[after_params:])
    res = _run(repo, "--profile", "smoke", "--only", "03")
    assert res.returncode == 1
    assert "FAILED in notebook 03_train_cvae" in res.stderr
    assert "ValueError: deliberate failure for the test" in res.stderr
    assert "cell" in res.stderr and "build/notebooks/03_train_cvae.ipynb" in res.stderr
    assert (repo / "paper" / "build" / "report.html").exists()
