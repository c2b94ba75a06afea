"""`python -m raregal.fetch`: help, estimate, cutouts against the loopback server, clean errors."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from raregal.fetch.__main__ import main

pytest_plugins = ["fixtures_server"]  # the loopback server and its fixtures


def test_help_lists_the_data_only_commands():
    out = subprocess.run([sys.executable, "-m", "raregal.fetch", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for cmd in ("survey-a", "gz2", "cutouts", "model", "estimate"):
        assert cmd in out


def test_estimate_prints_the_polite_time(capsys):
    assert main(["estimate", "--n", "1000", "--delay", "0.8", "--workers", "4"]) == 0
    out = capsys.readouterr().out
    assert "1000 cutouts at one request per 0.8 s" in out and ": 800 s = 0.22 h" in out


def test_cutouts_command_fetches_and_writes_failures(fixture_server, tmp_path, capsys):
    table = pd.DataFrame({"id": [1, 2], "ra": [10.0, 11.0], "dec": [0.0, 0.0]})
    table.to_csv(tmp_path / "t.csv", index=False)
    fixture_server.faults["11.000000"] = ["bands2"]
    rc = main(["cutouts", str(tmp_path / "t.csv"), "--cache", str(tmp_path / "cache"),
               "--base-url", fixture_server.url + "/viewer", "--size", "8", "--delay", "0",
               "--failures", str(tmp_path / "fail.csv"), "--quiet"])
    assert rc == 1
    assert "1 cutouts ready" in capsys.readouterr().out
    fail = pd.read_csv(tmp_path / "fail.csv")
    assert fail["id"].tolist() == [2] and "2 bands" in fail["reason"][0]


def test_errors_are_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    assert main(["survey-a", "--profile", "smoke", "--no-catalog-download"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("raregal.fetch: error: real paper-A data needs user catalogs")
    assert "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["nonsense"])


def test_gz2_command_against_the_loopback_server(fixture_server, tmp_path, monkeypatch, capsys):
    from test_fetch_gz2 import IDS, serve_gz2

    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    serve_gz2(fixture_server)
    rc = main(["gz2", "--profile", "smoke", "--hart16-url", fixture_server.url + "/gz2_hart16.csv.gz",
               "--zenodo-url", fixture_server.url + "/zenodo", "--delay", "0", "--quiet"])
    assert rc == 0 and "gz2 (real, hart16 form): 2 galaxies" in capsys.readouterr().out
    out = tmp_path / "data" / "interim" / "real-smoke" / "gz2"
    assert sorted(p.stem for p in (out / "images").iterdir()) == sorted(str(i) for i in IDS[:2])
    from raregal.core import registry
    assert registry.read_prepared(out.parent) == ("B",)  # so ./run_all.sh --only 07 may follow
