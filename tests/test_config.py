import dataclasses
import pickle
import random
import re

import numpy as np
import pytest
import torch

from raregal.core import config, settings


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
    with pytest.raises(config.ConfigError, match="< 2\\*\\*32"):
        config.setup("smoke", "mock", 2**32)


@pytest.mark.parametrize("profile", config.PROFILES)
def test_every_profile_builds_every_section_with_its_values_unchanged(profile):
    cfg = config.setup(profile, "mock", 0, make_dirs=False)
    assert list(cfg.sections) == list(config.SECTIONS)
    for name, by_profile in config.SECTIONS.items():
        section = getattr(cfg, name)
        assert type(section) is settings.SECTION_TYPES[name]
        assert section.as_dict() == by_profile[profile], name


def test_a_typo_in_a_profile_is_an_error_naming_the_section_and_its_valid_keys(monkeypatch):
    paper = dict(config.SECTIONS["cvae"]["paper"])
    monkeypatch.setitem(config.SECTIONS["cvae"], "paper", {**paper, "epoks": 1000})
    with pytest.raises(config.ConfigError) as err:
        config.setup("paper", "mock", 0, make_dirs=False)
    msg = str(err.value)
    assert "unknown keys for section 'cvae' (profile 'paper'): ['epoks']" in msg
    assert all(f"'{key}'" in msg.split("known:")[1] for key in paper)
    assert config.setup("smoke", "mock", 0, make_dirs=False).cvae.epochs == 2  # other profiles unaffected


@pytest.mark.parametrize("change, message", [
    ({"lr": "drop"}, "section 'cvae' (profile 'paper') lacks keys ['lr']"),
    ({"epochs": "1000"}, "section 'cvae' (profile 'paper'): epochs must be int, got '1000' (str)"),
    ({"epochs": 1000.0}, "epochs must be int, got 1000.0 (float)"),
    ({"augment": 1}, "augment must be bool, got 1 (int)"),
    ({"lr": None}, "lr must be float, got None"),
    ({"channels": (16, "32")}, "channels must be tuple[int, ...], got (16, '32')"),
])
def test_a_missing_key_or_a_wrongly_typed_value_in_a_profile_is_an_error(monkeypatch, change, message):
    values = dict(config.SECTIONS["cvae"]["paper"])
    for key, value in change.items():
        if value == "drop":
            del values[key]
        else:
            values[key] = value
    monkeypatch.setitem(config.SECTIONS["cvae"], "paper", values)
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.setup("paper", "mock", 0, make_dirs=False)


def test_a_section_without_a_type_is_an_error(monkeypatch):
    monkeypatch.setitem(config.SECTIONS, "extra", {p: {"n": 1} for p in config.PROFILES})
    with pytest.raises(config.ConfigError, match="differ from the typed sections"):
        config.setup("smoke", "mock", 0, make_dirs=False)


def test_typed_values_accept_ints_for_floats_lists_for_tuples_and_none_where_optional():
    section = settings.build_section("diffusion", {**config.SECTIONS["diffusion"]["default"],
                                                   "guidance": 3, "unet_channels": [16, 32],
                                                   "vae_channels": None})
    assert section.guidance == 3 and section.unet_channels == (16, 32) and section.vae_channels is None


@pytest.mark.parametrize("profile", config.PROFILES)
def test_a_notebook_cfg_receives_the_profile_values_and_its_parameters(profile):
    """Notebook 03's config cell: parameters left at None keep the profile's value, set ones replace it."""
    epochs, lr, periodic_variant = None, 1e-4, None  # the notebook's parameters cell, lr overridden
    overrides = {k: v for k, v in {"epochs": epochs, "lr": lr, "periodic_variant": periodic_variant}.items()
                 if v is not None}
    cfg = config.setup(profile, "mock", 0, overrides={"cvae": overrides}, make_dirs=False)
    plain = config.setup(profile, "mock", 0, make_dirs=False)
    assert cfg.cvae.lr == 1e-4 and "lr=0.0001" in cfg.describe("cvae")
    assert cfg.cvae == plain.cvae.with_overrides(lr=1e-4)
    assert {n: s for n, s in cfg.sections.items() if n != "cvae"} == \
        {n: s for n, s in plain.sections.items() if n != "cvae"}
    assert plain.cvae.lr == config.SECTIONS["cvae"][profile]["lr"] != 1e-4  # the override did not leak


def test_overrides_reject_unknown_sections_keys_and_types():
    with pytest.raises(config.ConfigError, match=r"unknown keys for section 'cvae': \['epoks'\]; known: "):
        config.setup("smoke", "mock", 0, overrides={"cvae": {"epoks": 3}}, make_dirs=False)
    with pytest.raises(config.ConfigError, match="unknown section 'cvea'; sections: "):
        config.setup("smoke", "mock", 0, overrides={"cvea": {"epochs": 3}}, make_dirs=False)
    with pytest.raises(config.ConfigError, match="section 'cvae': epochs must be int, got 'three'"):
        config.setup("smoke", "mock", 0, overrides={"cvae": {"epochs": "three"}}, make_dirs=False)


def test_sections_are_frozen_and_with_overrides_makes_a_checked_copy(tmp_cfg):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tmp_cfg.cvae.epochs = 3
    more = tmp_cfg.cvae.with_overrides(epochs=3)
    assert more.epochs == 3 and tmp_cfg.cvae.epochs == 2 and more.lr == tmp_cfg.cvae.lr
    with pytest.raises(config.ConfigError, match=r"unknown keys for section 'cvae': \['epoks'\]"):
        tmp_cfg.cvae.with_overrides(epoks=3)
    with pytest.raises(AttributeError, match="no section 'nope'"):
        _ = tmp_cfg.nope


def test_run_config_with_overrides_changes_only_what_it_names(tmp_cfg):
    small = tmp_cfg.with_overrides(survey_a={"n_normal": 4}, labels={"tag_cap": 7})
    assert (small.survey_a.n_normal, small.labels.tag_cap) == (4, 7)
    assert small.survey_a.n_green_pea == tmp_cfg.survey_a.n_green_pea
    assert small.cvae == tmp_cfg.cvae and small.paths == tmp_cfg.paths and small.seed == tmp_cfg.seed
    assert tmp_cfg.survey_a.n_normal == config.SECTIONS["survey_a"]["smoke"]["n_normal"]
    with pytest.raises(config.ConfigError, match="unknown section 'survey'"):
        tmp_cfg.with_overrides(survey={"n_normal": 4})


def test_run_config_pickles_and_keeps_its_sections_read_only(tmp_cfg):
    """Worker processes (Dask, accelerate launchers) receive the cfg by pickling."""
    back = pickle.loads(pickle.dumps(tmp_cfg))
    assert back == tmp_cfg and back.cvae == tmp_cfg.cvae
    with pytest.raises(TypeError):
        tmp_cfg.sections["cvae"] = tmp_cfg.cvae.with_overrides(epochs=3)


def test_describe_prints_the_run_and_each_section_in_key_order(tmp_cfg):
    labels = config.SECTIONS["labels"]["smoke"]
    assert tmp_cfg.describe("labels") == ("profile=smoke source=mock seed=0\n  labels: "
                                          + ", ".join(f"{k}={v}" for k, v in labels.items()))
    assert len(tmp_cfg.describe().splitlines()) == 1 + len(config.SECTIONS)
    with pytest.raises(config.ConfigError, match="unknown section 'nope'"):
        tmp_cfg.describe("nope")


def test_setup_seeds_random_numpy_and_torch_as_their_own_seed_calls_do(tmp_path, monkeypatch):
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))

    def draws():
        return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()

    cfg = config.setup("smoke", "mock", 7)
    after_setup = draws()
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    assert draws() == after_setup
    config.setup("smoke", "mock", 8)
    assert draws() != after_setup
    assert cfg.paths.root == tmp_path
    for p in (cfg.paths.figures, cfg.paths.tables, cfg.paths.interim, cfg.paths.models):
        assert p.is_dir()


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
