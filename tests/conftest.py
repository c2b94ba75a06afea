"""Shared fixtures: a RunConfig whose repository root is a temporary folder (nothing touches data/)."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

from raregal.core import config


@pytest.fixture
def tmp_cfg(tmp_path, monkeypatch):
    """Smoke-profile, mock-source config writing under tmp_path."""
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    return config.setup("smoke", "mock", 0)
