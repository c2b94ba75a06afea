"""End to end: ./run_all.sh in a copy of the repository writes each run's report.

The smoke mock run makes every notebook's outputs; then a paper-B-only real run (Ma et al. 2025 on
Galaxy Zoo 2 files built here, no paper A catalogs) runs 01 and 07–12 and writes its own report beside
the mock one, and the index lists both.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from raregal.core import config, registry
from raregal.fetch import gz2 as real_gz2
from raregal.mock import gz2 as mock_gz2
from raregal.paper_b import vetting

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


def _ok(res: subprocess.CompletedProcess) -> list[str]:
    """The numbers of the notebooks a successful run ran, checking each said ok."""
    assert res.returncode == 0, f"stdout:\n{res.stdout[-4000:]}\nstderr:\n{res.stderr[-4000:]}"
    lines = [line for line in res.stdout.splitlines() if line.startswith("[")]
    assert all(" ok " in line and " s  wrote " in line for line in lines), lines
    return [line[1:3] for line in lines]


def write_real_gz2_files(raw: Path, n: int, image_size: int, seed: int = 5) -> pd.DataFrame:
    """The real GZ2 downloads as a user's ``data/raw`` holds them, made from a mock GZ2 sample.

    ``raw/gz2/``: the Hart et al. (2016) catalog (mock truth and physical columns removed), the Zenodo
    filename mapping and ``images_gz2.zip`` of JPEGs named by asset id; ``raw/catalogs/``: the user's
    physical-columns table and Kaviraj et al. (2012)-style D-ETG list. Returns the mock catalog, truth
    included (what only the test knows).
    """
    smoke = config.SECTIONS["survey_b"]["smoke"]
    with tempfile.TemporaryDirectory() as tmp:
        mock_gz2.write_survey(tmp, n, image_size, seed, smoke["fov_r90"], smoke["detg_fraction"], log=None)
        cat = pd.read_csv(Path(tmp) / "gz2_hart16.csv.gz")
        known = pd.read_csv(Path(tmp) / "detg_known.csv")
        (raw / "gz2").mkdir(parents=True)
        (raw / "catalogs").mkdir(parents=True)
        asset = {oid: 1000 + k for k, oid in enumerate(cat["dr7objid"])}
        with zipfile.ZipFile(raw / "gz2" / real_gz2.IMAGES_ZIP, "w") as zf:
            for oid, a in asset.items():
                zf.write(Path(tmp) / "images" / f"{oid}.jpg", f"images/{a}.jpg")
    pd.DataFrame({"objid": list(asset), "sample": "original", "asset_id": list(asset.values())}).to_csv(
        raw / "gz2" / real_gz2.MAPPING_CSV, index=False)
    physical = ["dr7objid", *real_gz2.PHYSICAL_COLUMNS]
    cat[physical].to_csv(raw / "catalogs" / "gz2_physical.csv", index=False)
    known[["dr7objid", "ra", "dec"]].to_csv(raw / "catalogs" / "detg_kaviraj12.csv", index=False)
    hart16 = cat.drop(columns=[c for c in cat.columns if c.startswith("true_") or c in physical[1:]])
    hart16.to_csv(raw / "gz2" / real_gz2.HART16_CSV, index=False, compression="gzip")
    return cat


def answer_every_galaxy(log_path: Path, truth: pd.DataFrame, reviewers: tuple[str, ...]) -> None:
    """Three people who looked at every galaxy beforehand: their yes/no (the D-ETG truth) in the vetting
    log, so notebook 12's search on real data finds every candidate answered instead of stopping for
    the vetting widget (Ma et al. 2025 §4.3: at least two of three reviewers)."""
    log = vetting.VettingLog(log_path)
    for name in reviewers:
        log.record(truth["dr7objid"], name, truth["true_detg"].astype(bool))


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory):
    """A copy of the repository after ./run_all.sh --profile smoke (mock, both papers)."""
    repo = _copy_repo(tmp_path_factory.mktemp("e2e") / "repo")
    return repo, _run(repo, "--profile", "smoke")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_smoke_run_writes_report_then_reruns_one_notebook(smoke_repo):
    repo, res = smoke_repo
    assert _ok(res) == [nb.number for nb in registry.NOTEBOOKS]
    html = (repo / "paper" / "build" / "mock-smoke" / "report.html").read_text()
    assert "profile</th><td>smoke" in html
    for nb in registry.NOTEBOOKS:
        assert (repo / "build" / "mock-smoke" / "notebooks" / f"{nb.stem}.ipynb").exists()
        assert nb.stem in html
    assert not (repo / "notebooks" / ".ipynb_checkpoints").exists()
    assert not list((repo / "figures").glob("*.png")) and (repo / "figures" / "mock-smoke" / "B-gallery.png").exists()

    again = _run(repo, "--profile", "smoke", "--only", "01", "-p", "seed=3")
    assert _ok(again) == ["01"]
    timings = json.loads((repo / "build" / "mock-smoke" / "timings.json").read_text())
    assert timings["01_fetch"]["parameters"] == {"profile": "smoke", "source": "mock", "seed": 3,
                                                 "papers": "A,B"}
    assert timings["02_preprocess"]["parameters"]["seed"] == 0


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_paper_b_alone_on_real_gz2_files_reports_beside_the_mock_run(smoke_repo):
    repo, _ = smoke_repo
    smoke = config.SECTIONS["survey_b"]["smoke"]
    truth = write_real_gz2_files(repo / "data" / "raw", smoke["n_galaxies"], smoke["image_size"])
    answer_every_galaxy(repo / "data" / "processed" / "real-smoke" / "detg" / "vetting_log.csv", truth,
                        ("reviewer_1", "reviewer_2", "reviewer_3"))  # notebook 12's default reviewers
    user_tables = sorted(p.name for p in (repo / "data" / "raw" / "catalogs").iterdir())
    assert user_tables == ["detg_kaviraj12.csv", "gz2_physical.csv"]  # no paper A catalog at all
    mock_gallery = (repo / "figures" / "mock-smoke" / "B-gallery.png").read_bytes()

    res = _run(repo, "--profile", "smoke", "--source", "real", "--papers", "B")
    assert _ok(res) == ["01", "07", "08", "09", "10", "11", "12"]
    interim = repo / "data" / "interim" / "real-smoke"
    assert registry.read_prepared(interim) == ("B",) and not (interim / "survey_a").exists()
    kept = pd.read_csv(interim / "gz2" / "gz2_hart16.csv.gz")
    assert sorted(kept["dr7objid"]) == sorted(truth["dr7objid"])  # every fixture galaxy, none dropped
    assert not [c for c in kept.columns if c.startswith("true_")]

    real_html = (repo / "paper" / "build" / "real-smoke" / "report.html").read_text()
    mock_html = (repo / "paper" / "build" / "mock-smoke" / "report.html").read_text()
    assert "Data source: real surveys" in real_html and "MOCK SURVEY" not in real_html
    assert "figures/real-smoke/B-gallery.png" in real_html and "figures/mock-smoke" not in real_html
    assert "02_preprocess" not in real_html and "12_detg_search" in real_html
    assert "MOCK SURVEY" in mock_html and "02_preprocess" in mock_html
    gallery = json.loads((repo / "figures" / "real-smoke" / "B-gallery.json").read_text())
    assert (gallery["source"], gallery["profile"]) == ("real", "smoke")
    assert (repo / "figures" / "mock-smoke" / "B-gallery.png").read_bytes() == mock_gallery  # untouched
    index = (repo / "paper" / "build" / "index.html").read_text()
    assert 'href="mock-smoke/report.html"' in index and 'href="real-smoke/report.html"' in index

    refused = _run(repo, "--profile", "smoke", "--source", "real", "--only", "02")
    assert refused.returncode == 2 and not refused.stdout.count("\n[")
    assert "notebook 02_preprocess needs paper A's data, but 01_fetch prepared only paper B" in refused.stderr
    assert _ok(_run(repo, "--profile", "smoke", "--source", "real", "--only", "07", "--no-report")) == ["07"]


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
    assert "cell" in res.stderr and "build/mock-smoke/notebooks/03_train_cvae.ipynb" in res.stderr
    assert (repo / "paper" / "build" / "mock-smoke" / "report.html").exists()
