"""`pretrained` resolution: tiny | local diffusers folder | hub id from the local cache; never downloads."""
from __future__ import annotations

import json

import pytest

from raregal.fetch import models


def diffusers_folder(path, skip=()):
    path.mkdir(parents=True)
    comps = [*models.REQUIRED_COMPONENTS, "safety_checker"]
    (path / "model_index.json").write_text(json.dumps(
        {"_class_name": "StableDiffusionPipeline", **{c: ["diffusers", "X"] for c in comps}}))
    for c in models.REQUIRED_COMPONENTS:
        if c not in skip:
            (path / c).mkdir()
            (path / c / "config.json").write_text("{}")
    return path


def hub_cache(cache, repo_id, commit="0123456789abcdef0123456789abcdef01234567"):
    """The huggingface_hub cache layout: models--org--name/{refs/main, snapshots/<commit>/}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    diffusers_folder(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo / "snapshots" / commit


def test_tiny_needs_nothing():
    assert models.resolve_pretrained("tiny") == models.ResolvedModel("tiny", "tiny", None)


def test_local_folder_absolute_and_relative_to_root(tmp_path):
    folder = diffusers_folder(tmp_path / "data" / "raw" / "models" / "sd-1.5")
    res = models.resolve_pretrained(folder)
    assert (res.kind, res.path) == ("local", folder.resolve())
    res = models.resolve_pretrained("data/raw/models/sd-1.5", root=tmp_path)
    assert res.path == folder.resolve()


def test_incomplete_folder_says_what_is_missing_and_how_to_fix(tmp_path):
    folder = diffusers_folder(tmp_path / "sd", skip=("unet",))
    with pytest.raises(models.WeightsUnavailableError) as err:
        models.resolve_pretrained(folder)
    msg = str(err.value)
    assert "missing unet/" in msg and "pretrained='tiny'" in msg and "save_pretrained" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(models.WeightsUnavailableError, match="missing model_index.json"):
        models.resolve_pretrained(tmp_path / "empty")


def test_hub_id_comes_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = hub_cache(tmp_path / "hub", models.SD15_HUB_ID)
    res = models.resolve_pretrained(models.SD15_HUB_ID, cache_dir=tmp_path / "hub")
    assert (res.kind, res.path) == ("hub", snap)


@pytest.mark.parametrize("offline", ["1", ""])
def test_uncached_hub_id_never_downloads_and_explains(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # any download attempt would fail loudly
    with pytest.raises(models.WeightsUnavailableError) as err:
        models.resolve_pretrained(models.SD15_HUB_ID, cache_dir=tmp_path / "hub",
                                  allow_download=bool(offline))  # offline beats allow_download
    msg = str(err.value)
    assert ("HF_HUB_OFFLINE is set" if offline else "downloading was not requested") in msg
    assert f"hf download {models.SD15_HUB_ID} --include" in msg
    assert f"python -m raregal.fetch model {models.SD15_HUB_ID} --download" in msg
    assert "pretrained='tiny'" in msg and "pretrained='data/raw/models/sd-1.5'" in msg
    assert not (tmp_path / "hub" / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
                / "snapshots").exists()


def test_nonsense_spec_is_refused():
    with pytest.raises(models.WeightsUnavailableError, match="neither 'tiny', an existing folder"):
        models.resolve_pretrained("not a model")
