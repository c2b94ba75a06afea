import numpy as np
import pytest
import torch

from raregal.core import config


def test_setup_validates_profile_source_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    with pytest.raises(config.ConfigError, match="unknown profile 'huge'.*smoke, default, paper"):
        config.setup("huge", "mock", 0)
    with pytest.raises(config.ConfigError, match="unknown source 'web'"):
        config.setup("smoke", "web", 0)
    with pytest.raises(config.ConfigError, match="seed must be an integer"):
        config.setup("smoke", "mock", "abc")
    with pytest.raises(config.ConfigError, match=">= 0"):
        config.setup("smoke", "mock", -1)


def test_every_section_defines_every_profile_with_the_same_keys():
    for name, by_profile in config.SECTIONS.items():
        assert set(by_profile) == set(config.PROFILES), name
        keys = {p: set(v) for p, v in by_profile.items()}
        assert keys["smoke"] == keys["default"] == keys["paper"], name


def test_paper_profile_carries_the_papers_numbers():
    sa = config.SECTIONS["survey_a"]["paper"]
    assert (sa["n_normal"], sa["n_red_spiral"], sa["n_green_pea"]) == (26126, 294, 13)
    assert config.SECTIONS["cvae"]["paper"]["lr"] == 5e-6
    assert config.SECTIONS["cvae"]["paper"]["epochs"] == 1000


def test_setup_seeds_numpy_and_torch_and_creates_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    cfg = config.setup("smoke", "mock", 7)
    a = (np.random.rand(3), torch.rand(3))
    cfg = config.setup("smoke", "mock", 7)
    b = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    assert cfg.paths.root == tmp_path
    for p in (cfg.paths.figures, cfg.paths.tables, cfg.paths.interim, cfg.paths.models):
        assert p.is_dir()


def test_sections_as_attributes_and_overrides(tmp_cfg):
    assert tmp_cfg.survey_a.n_normal == config.SECTIONS["survey_a"]["smoke"]["n_normal"]
    cfg = config.setup("smoke", "mock", 0, overrides={"cvae": {"epochs": 3}})
    assert cfg.cvae.epochs == 3
    with pytest.raises(config.ConfigError, match="unknown keys for section 'cvae'"):
        config.setup("smoke", "mock", 0, overrides={"cvae": {"epoks": 3}})
    with pytest.raises(AttributeError, match="no section 'nope'"):
        tmp_cfg.nope
    assert "survey_a:" in tmp_cfg.describe("survey_a") and "profile=smoke" in tmp_cfg.describe()


def test_data_dir_separates_source_and_profile(tmp_cfg):
    d = tmp_cfg.data_dir("interim", "survey_a")
    assert d == tmp_cfg.paths.interim / "mock-smoke" / "survey_a"
    with pytest.raises(config.ConfigError, match="unknown data stage"):
        tmp_cfg.data_dir("raw")


def test_require_names_the_notebook(tmp_cfg):
    with pytest.raises(config.MissingInputError, match="run notebook 02_preprocess first.*--only 02"):
        config.require(tmp_cfg.paths.processed / "nothing.h5", made_by="02_preprocess")
    existing = tmp_cfg.paths.figures
    assert config.require(existing, made_by="x") == existing
