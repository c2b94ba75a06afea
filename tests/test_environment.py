"""pyproject.toml and environment.yml pin the same packages at the same versions."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pip_list_of_environment_yml():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "- pip:")
    return [l.strip()[2:] for l in lines[start + 1:] if l.strip().startswith("- ") and l.strip() != "- -e ."]


def test_environment_yml_matches_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(_pip_list_of_environment_yml()) == sorted(deps)


def test_every_dependency_is_pinned_and_torch_is_the_cpu_build_version():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for d in deps:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][A-Za-z0-9.+]*", d), f"not pinned: {d}"
    assert "torch==2.13.0" in deps
    assert not any(d.startswith("torchvision") for d in deps)


def test_python_version_agrees():
    yml = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in yml
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11"
