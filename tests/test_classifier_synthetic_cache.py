"""The synthetic-image cache of the augmented classifiers: reused for the same pipeline and settings, regenerated otherwise."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from raregal.paper_b import classifiers


class FakeGenerator:
    """Stands in for ``generate_for_prompt``: writes PNGs and a metadata.csv with the columns the real
    generator writes, each call's images a different grey level so a reuse can be told apart."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model_dir, prompt, n, seed=0, references=None, reference_ids=None, out_dir=None,
                 steps=30, strength=0.8, guidance=7.5, progress=False):
        from raregal.core.images import write_images

        self.calls += 1
        images = np.full((n, 8, 8, 3), 10 * self.calls, np.uint8)
        names = [f"gen-{k:05d}" for k in range(n)]
        write_images(out_dir, names, images, ext=".png")
        img2img = references is not None
        ref_ids = [reference_ids[k % len(reference_ids)] for k in range(n)] if img2img else [None] * n
        meta = pd.DataFrame({"file": [f"{nm}.png" for nm in names], "prompt": prompt,
                             "seed": range(seed, seed + n), "reference_id": ref_ids,
                             "mode": "img2img" if img2img else "text2img",
                             "strength": strength if img2img else np.nan, "guidance": guidance,
                             "steps": steps})
        meta.to_csv(out_dir / "metadata.csv", index=False)
        return images, meta


@pytest.fixture
def fake_generator(monkeypatch, tmp_path):
    from raregal.paper_b.diffusion import generate

    fake = FakeGenerator()
    monkeypatch.setattr(generate, "generate_for_prompt", fake)
    (tmp_path / "model" / "pipeline").mkdir(parents=True)
    os.utime(tmp_path / "model" / "pipeline", (1e9, 1e9))  # the fine-tune is older than any cache
    return fake


REQUEST = dict(prompt="sdss, barred spiral", n=3, steps=4, strength=0.6, seed=5,
               references=np.zeros((2, 8, 8, 3), np.uint8), reference_ids=[101, 102], guidance=3.0)


def _synthetic(tmp_path, **changes):
    kw = {**REQUEST, **changes}
    return classifiers.synthetic_images(tmp_path / "model", kw.pop("prompt"), kw.pop("n"), tmp_path / "out",
                                        kw.pop("steps"), kw.pop("strength"), **kw)


def test_synthetic_cache_from_the_current_pipeline_with_the_same_settings_is_reused(tmp_path,
                                                                                   fake_generator):
    first, note = _synthetic(tmp_path)
    assert note == "3 synthetic images generated" and fake_generator.calls == 1
    again, note = _synthetic(tmp_path)
    assert note == "3 cached synthetic images" and fake_generator.calls == 1
    np.testing.assert_array_equal(again, first)


def test_synthetic_cache_is_regenerated_after_a_newer_fine_tune(tmp_path, fake_generator):
    _synthetic(tmp_path)
    meta_time = (tmp_path / "out" / "metadata.csv").stat().st_mtime
    os.utime(tmp_path / "model" / "pipeline", (meta_time + 10, meta_time + 10))
    images, note = _synthetic(tmp_path)
    assert note.endswith("generated") and fake_generator.calls == 2 and (images == 20).all()


@pytest.mark.parametrize("change", [{"prompt": "sdss, spiral galaxy"}, {"n": 4}, {"seed": 6}, {"steps": 5},
                                    {"guidance": 4.0}, {"strength": 0.9}, {"reference_ids": [101, 103]},
                                    {"references": None, "reference_ids": None}])
def test_synthetic_cache_is_regenerated_when_a_setting_changes(tmp_path, fake_generator, change):
    _synthetic(tmp_path)
    _, note = _synthetic(tmp_path, **change)
    assert note.endswith("generated") and fake_generator.calls == 2


def test_synthetic_cache_with_a_missing_image_is_regenerated(tmp_path, fake_generator):
    _synthetic(tmp_path)
    (tmp_path / "out" / "gen-00001.png").unlink()
    _, note = _synthetic(tmp_path)
    assert note.endswith("generated") and fake_generator.calls == 2
