"""The pretraining recipe (python -m raregal.pretrain) and the checks every load of a kept base makes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from raregal.core import model_card
from raregal.mock import gz2 as mock_gz2
from raregal.paper_b import labels
from raregal.paper_b.diffusion import components, finetune
from raregal.paper_b.pretrain import cli, survey

TINY_ARGS = ["--n-galaxies", "400", "--tag-cap", "40", "--vae-steps", "2", "--vae-batch-size", "4",
             "--steps", "2", "--batch-size", "4", "--checkpoint-every", "1", "--warmup-steps", "1",
             "--data-seed", "11", "--quiet"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A diffusion base written by the command line, two training steps on a 400-galaxy survey."""
    root = tmp_path_factory.mktemp("pretrain")
    out = root / "models" / "tiny-base"
    assert cli.main(["diffusion", "--out", str(out), "--work", str(root / "work" / "tiny-base"), *TINY_ARGS]) == 0
    return out


def copy_of(base, tmp_path):
    return shutil.copytree(base, tmp_path / base.name)


def test_pretraining_rows_leave_out_every_dust_lane_early_type():
    catalog = mock_gz2.make_catalog(4000, seed=5, detg_fraction=0.05)
    rows, counts = survey.pretraining_rows(catalog, tag_cap=10_000, seed=5)
    detg = set(catalog.dr7objid[catalog.true_detg])
    assert len(detg) > 100 and counts["excluded_true_detg"] == len(detg)
    assert not detg & set(rows.dr7objid)
    tag_sets = rows.tags.str.split("|").apply(set)
    early_with_lane = tag_sets.apply(lambda t: "dust_lane" in t and bool(t & set(labels.EARLY_TYPE_TAGS)))
    assert not early_with_lane.any()
    assert tag_sets.apply(lambda t: "dust_lane" in t).any()  # disks keep their lanes
    assert counts["kept"] == len(rows)


def test_the_command_writes_a_complete_base_with_its_card(base):
    card = json.loads((base / model_card.CARD_FILE).read_text())
    assert card["command"].startswith("python -m raregal.pretrain diffusion --out ")
    assert "--steps 2" in card["command"]
    assert card["training"]["samples_seen"] == 2 * 4 and card["training"]["unet_text_steps"] == 2
    assert card["training_data"]["data_seed"] == 11 and card["training_data"]["detg_seen"] == 0
    assert card["training_data"]["galaxies"] == 400 and card["training_data"]["images"] > 50
    for key in ("hardware", "git_commit", "wall_time", "exclusions", "recipe"):
        assert card[key]
    assert "unet/diffusion_pytorch_model.safetensors" in card["files"]
    assert all(card["files"][name] == model_card.sha256(base / name) for name in card["files"])
    assert set(card["files"]) == set(model_card.weight_files(base))
    assert "sha256" in (base / model_card.README_FILE).read_text()
    comps = components.load_components(base)
    assert comps.info["model_card"]["training_data"]["data_seed"] == 11


def test_an_altered_file_stops_the_load_naming_both_checksums(base, tmp_path):
    folder = copy_of(base, tmp_path)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    expected = model_card.sha256(weights)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(model_card.ModelCardError) as err:
        components.load_components(folder)
    message = str(err.value)
    assert str(weights) in message and expected in message and model_card.sha256(weights) in message
    assert "python -m raregal.pretrain diffusion" in message


def test_a_missing_or_unlisted_file_is_refused(base, tmp_path):
    folder = copy_of(base, tmp_path)
    (folder / "vae" / "config.json").unlink()
    with pytest.raises(model_card.ModelCardError, match="vae/config.json is missing"):
        model_card.verify(folder)
    folder = copy_of(base, tmp_path / "again")
    (folder / "unet" / "extra.bin").write_bytes(b"x")
    with pytest.raises(model_card.ModelCardError, match="does not list"):
        model_card.verify(folder)


def test_a_base_that_saw_detgs_is_refused(base, tmp_path):
    folder = copy_of(base, tmp_path)
    card = json.loads((folder / model_card.CARD_FILE).read_text())
    card["training_data"]["detg_seen"] = 3
    (folder / model_card.CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(model_card.ModelCardError, match="saw 3 dust-lane early types"):
        components.load_components(folder)


def test_a_missing_kept_base_says_how_to_rebuild_it():
    with pytest.raises(model_card.ModelCardError, match="python -m raregal.pretrain diffusion --out models/nope"):
        components.load_components("models/nope")


def test_a_run_with_the_bases_data_seed_is_refused(base):
    values = {"pretrained": str(base)}
    images = np.zeros((2, 64, 64, 3), np.uint8)
    with pytest.raises(model_card.ModelCardError, match="seed 11 is the pretraining-data seed"):
        finetune.base_components(base.parent, values, images, ["galaxy"], seed=11)
    comps, name = finetune.base_components(base.parent, values, images, ["galaxy"], seed=0)
    assert name == str(base) and comps.info["model_card"]["training"]["samples_seen"] == 8


@pytest.fixture(scope="module")
def simclr_base(tmp_path_factory):
    """A SimCLR trunk written by the command line: one epoch on 120 images of a 300-galaxy survey."""
    root = tmp_path_factory.mktemp("pretrain-simclr")
    out = root / "models" / "tiny-simclr"
    args = ["simclr", "--out", str(out), "--work", str(root / "work" / "tiny-simclr"), "--n-galaxies", "300",
            "--n-images", "120", "--epochs", "1", "--batch-size", "32", "--data-seed", "11", "--quiet"]
    assert cli.main(args) == 0
    return out


def test_the_simclr_base_loads_as_the_trunk_it_saved_and_is_checked(simclr_base, tmp_path):
    import torch

    from raregal.paper_b.backbone import build_resnet18

    card = model_card.verify(simclr_base)
    assert card["command"].startswith("python -m raregal.pretrain simclr")
    assert card["training_data"]["images"] == 120 and card["training_data"]["detg_seen"] == 0
    trunk = build_resnet18(0.25, simclr_base).eval()
    x = torch.rand(2, 3, 48, 48)
    again = build_resnet18(0.25, str(simclr_base)).eval()
    assert torch.equal(trunk(x), again(x))
    folder = copy_of(simclr_base, tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(model_card.ModelCardError, match="was altered"):
        build_resnet18(0.25, folder)
    with pytest.raises(model_card.ModelCardError, match="python -m raregal.pretrain simclr --out models/nope"):
        build_resnet18(0.25, "models/nope")


def test_the_morphology_base_learns_the_classes_of_its_survey_without_a_detg(tmp_path):
    import torch

    from raregal.paper_b import simclr
    from raregal.paper_b.backbone import build_resnet18

    out = tmp_path / "models" / "tiny-morphology"
    args = ["morphology", "--out", str(out), "--work", str(tmp_path / "work" / "tiny-morphology"),
            "--n-galaxies", "300", "--n-images", "100", "--epochs", "2", "--batch-size", "32",
            "--data-seed", "11", "--classes", "spiral,edge_on,in_between_round,completely_round", "--quiet"]
    assert cli.main(args) == 0
    card = model_card.verify(out)
    data = card["training_data"]
    assert card["command"] == "python -m raregal.pretrain " + " ".join(args)
    assert data["detg_seen"] == 0 and data["images"] == sum(data["per_class"].values()) <= 100
    assert list(data["per_class"]) == ["spiral", "edge_on", "in_between_round", "completely_round"]
    assert data["labels"] == "first tag of spiral, edge_on, in_between_round, completely_round"
    assert card["training"]["samples_seen"] == 2 * data["images"]
    trunk = build_resnet18(0.25, out).eval()
    untrained = build_resnet18(0.25).eval()
    x = torch.rand(2, 3, 48, 48)
    assert trunk(x).shape == untrained(x).shape and not torch.allclose(trunk(x), untrained(x))


@pytest.mark.parametrize("classes", ["spiral", "spiral,dustlane", "spiral,bar,spiral"])
def test_a_morphology_recipe_with_unknown_repeated_or_too_few_classes_is_refused_when_built(classes):
    from raregal.paper_b.pretrain.morphology_base import MorphologyRecipe

    with pytest.raises(ValueError, match="two or more distinct tags"):
        MorphologyRecipe(classes=classes)  # refused when built, before any survey is read


def test_the_morphology_classes_pick_the_first_listed_tag_a_galaxy_carries():
    import pandas as pd

    from raregal.paper_b import simclr
    from raregal.paper_b.pretrain.morphology_base import MorphologyRecipe

    tags = pd.DataFrame({f"tag_{t}": [False] * 3 for t in simclr.MORPHOLOGY_ORDER})
    tags.loc[0, ["tag_dust_lane", "tag_edge_on"]] = True  # a lane on an edge-on disk
    tags.loc[1, "tag_dust_lane"] = True  # a lane and nothing else
    tags.loc[2, "tag_completely_round"] = True
    order = MorphologyRecipe(classes="edge_on,spiral,completely_round").class_order()
    assert list(simclr.morphology_class(tags, order)) == ["edge_on", "", "completely_round"]
    assert list(simclr.morphology_class(tags)) == ["dust_lane", "dust_lane", "completely_round"]


def test_the_base_line_names_the_commit_and_keeps_dirty(base, tmp_path):
    folder = copy_of(base, tmp_path)
    card = json.loads((folder / model_card.CARD_FILE).read_text())
    card["git_commit"] = "0123456789abcdef0123+dirty"
    (folder / model_card.CARD_FILE).write_text(json.dumps(card))
    line = model_card.describe(str(folder), tmp_path)
    assert "8 samples" in line and "data seed 11" in line and "commit 0123456789ab+dirty" in line
    assert model_card.describe("tiny", tmp_path).startswith("none: trained from scratch")
