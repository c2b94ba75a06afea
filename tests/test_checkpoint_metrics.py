"""Generating and scoring every fine-tune checkpoint (Ma et al. 2025 Fig. 4 and 5's data), kept on disk:
a rerun with the same inputs generates nothing, changed inputs regenerate (or rescore) what they touch."""
import dataclasses
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from raregal.core.config import torch_threads
from raregal.paper_b import checkpoint_metrics, gen_metrics, simclr

PROMPTS = {"B": "completely round galaxy", "L": "edge-on galaxy, {dust lane:1.3}"}
CONDITION_TAGS = {"B": ["completely_round"], "L": ["edge_on", "dust_lane"]}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def tiny_finetune(tmp_path_factory):
    """A 2-step fine-tune of a tiny text-to-image pipeline (raregal.paper_b.diffusion) on 16 px blobs."""
    import torch

    from raregal.paper_b.diffusion import components, finetune, training_pairs, vae

    rng = np.random.default_rng(0)
    imgs = (rng.random((8, 16, 16, 3)) * 255).astype(np.uint8)
    tags = [["completely round galaxy"], ["edge-on galaxy"]] * 4
    spec = components.TinySpec(resolution=16, vae_channels=(8, 16), unet_channels=(16, 32), text_hidden=32,
                               text_layers=1, text_heads=2, max_length=16)
    torch.manual_seed(0)
    comps = components.build_tiny(["completely round galaxy", "edge-on galaxy", "dust lane"], spec, seed=0)
    root = tmp_path_factory.mktemp("diff")
    comps.save(root / "run" / "base")
    data = training_pairs.TrainingSet(vae.encode_latents(comps.vae, imgs), tags, list(range(8)))
    settings = finetune.FinetuneSettings(steps=2, batch_size=4, lr_per_sample=1e-4, warmup_steps=1,
                                         checkpoint_every=1, seed=3)
    finetune.finetune(components.load_components(root / "run" / "base"), data, settings, root / "run",
                      base=root / "run" / "base", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    """An untrained tiny SimCLR encoder, question heads and a whitened space fitted on 24 random 'real'
    galaxies (12 per condition): enough to score images; the numbers themselves mean nothing here."""
    folder = tmp_path_factory.mktemp("simclr")
    real = np.random.default_rng(0).random((24, 3, 16, 16)).astype(np.float32)
    settings = simclr.SimCLRSettings(image_size=16, width=0.0625, proj_dim=8, batch_size=8, epochs=0)
    simclr.train_simclr(real, folder, settings, log=lambda m: None)
    model = simclr.load_simclr(folder)
    feats = simclr.embed(model, real)
    truth = np.zeros((24, 11), bool)
    truth[::2] = True
    member = pd.DataFrame({"B": np.arange(24) < 12, "L": np.arange(24) >= 12})
    return checkpoint_metrics.Scorer.fit(model, feats, member, truth,
                                         gen_metrics.expected_answers(CONDITION_TAGS), min_positives=3)


def test_embed_and_answer_accepts_generated_layout(scorer):
    gen = (np.random.default_rng(1).random((5, 24, 24, 3)) * 255).astype(np.uint8)  # (N, H, W, 3), 24 px
    feats, answers = checkpoint_metrics.embed_and_answer(scorer.model, gen, scorer.classifiers)
    assert feats.shape == (5, scorer.model.feature_dim) and answers.shape == (5, 11) and answers.dtype == bool
    channels_first, _ = checkpoint_metrics.embed_and_answer(scorer.model, gen.transpose(0, 3, 1, 2),
                                                            scorer.classifiers)
    np.testing.assert_allclose(channels_first, feats, rtol=1e-5, atol=1e-6)


def test_scorer_compares_whitened_projections(scorer):
    """Realism and diversity use the projection head's output, whitened on the reference galaxies."""
    images = np.random.default_rng(2).random((6, 3, 16, 16)).astype(np.float32)
    feats = simclr.embed(scorer.model, images)
    z = checkpoint_metrics.projections(scorer.model, feats)
    np.testing.assert_allclose(z, simclr.embed(scorer.model, images, projection=True), rtol=1e-4, atol=1e-5)
    emb, answers = scorer.embed(images)
    np.testing.assert_allclose(emb, scorer.space.transform(z), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(answers, scorer.classifiers.predict(feats))  # questions: trunk features
    assert emb.shape == (6, scorer.space.dim) and scorer.ref_emb.shape == (24, scorer.space.dim)
    np.testing.assert_allclose(scorer.ref_emb.mean(axis=0), 0, atol=1e-6)  # centred on the reference
    with pytest.raises(ValueError, match="trunk features"):
        checkpoint_metrics.projections(scorer.model, z)


def test_generation_per_condition_from_checkpoints_and_base(tiny_finetune, tmp_path):
    assert checkpoint_metrics.fine_tune_steps(tiny_finetune) == [0, 1, 2]
    ims, cond = checkpoint_metrics.generate_for_conditions(tiny_finetune, 2, PROMPTS, n_per_prompt=2,
                                                           inference_steps=2, seed=1)
    assert ims.shape == (4, 16, 16, 3) and ims.dtype == np.uint8 and list(cond) == ["B", "B", "L", "L"]
    again, _ = checkpoint_metrics.generate_for_conditions(tiny_finetune, 2, {"B": PROMPTS["B"]}, 2, 2, seed=1)
    np.testing.assert_array_equal(again, ims[:2])  # seeds depend on the image, not the batch
    base, _ = checkpoint_metrics.generate_for_conditions(tiny_finetune, 0, {"B": PROMPTS["B"]}, 2, 2, seed=1)
    assert base.shape == (2, 16, 16, 3) and not np.array_equal(base, ims[:2])
    weak, _ = checkpoint_metrics.generate_for_conditions(tiny_finetune, 2, {"B": PROMPTS["B"]}, 2, 2, seed=1,
                                                         guidance=1.0)
    assert not np.array_equal(weak, ims[:2])  # the guidance scale reaches the sampler
    with pytest.raises(FileNotFoundError, match="08_finetune_diffusion"):
        checkpoint_metrics.fine_tune_steps(tmp_path)


@pytest.fixture
def generation_calls(monkeypatch):
    """The steps generate_for_conditions is called for, in order (it still generates)."""
    calls = []
    real = checkpoint_metrics.generate_for_conditions

    def spy(diffusion_dir, step, *args, **kwargs):
        calls.append(step)
        return real(diffusion_dir, step, *args, **kwargs)

    monkeypatch.setattr(checkpoint_metrics, "generate_for_conditions", spy)
    return calls


def _run(run_dir, settings, scorer, out_dir):
    lines = []
    per, skipped, seconds = checkpoint_metrics.score_checkpoints(run_dir, [0, 2], settings, scorer, out_dir,
                                                                 log=lines.append)
    return per, skipped, seconds, lines


def test_scores_and_images_are_saved_and_a_rerun_generates_nothing(tiny_finetune, scorer, generation_calls,
                                                                   tmp_path):
    settings = checkpoint_metrics.GenerationSettings(PROMPTS, n_per_prompt=2, inference_steps=2, seed=1)
    out = tmp_path / "gen_metrics"
    per, skipped, seconds, lines = _run(tiny_finetune, settings, scorer, out)
    assert generation_calls == [0, 2] and all("(generated)" in line for line in lines)
    assert per.step.tolist() == [0, 0, 2, 2] and per.condition.tolist() == ["B", "L", "B", "L"]
    assert per.method.tolist() == ["step 0", "step 0", "step 2", "step 2"] and skipped.empty
    assert (per.n_gen == 2).all() and (per.n_real == 12).all() and set(seconds) == {0, 2}
    images, cond = checkpoint_metrics.read_images(out, 2)
    assert images.shape == (4, 16, 16, 3) and images.dtype == np.uint8 and list(cond) == ["B", "B", "L", "L"]
    fresh, _ = checkpoint_metrics.generate_for_conditions(tiny_finetune, 2, PROMPTS, 2, 2, seed=1)
    np.testing.assert_array_equal(images, fresh)  # the saved images are the ones generated
    rescored, _ = scorer.score_images("step 2", images, cond)
    pd.testing.assert_frame_equal(rescored.assign(step=2), per[per.step == 2].reset_index(drop=True))

    generation_calls.clear()
    again, skipped_again, seconds_again, lines = _run(tiny_finetune, settings, scorer, out)
    assert generation_calls == [] and all("(saved)" in line for line in lines)
    pd.testing.assert_frame_equal(again, per)
    pd.testing.assert_frame_equal(skipped_again, skipped)
    assert seconds_again == seconds  # the time the saved images took, not this run's


def test_changed_settings_or_checkpoint_regenerate_and_a_new_scorer_rescores(tiny_finetune, scorer,
                                                                             generation_calls, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_finetune, run)  # copy2 keeps the modification times
    settings = checkpoint_metrics.GenerationSettings(PROMPTS, n_per_prompt=2, inference_steps=2, seed=1)
    out = tmp_path / "gen_metrics"
    _run(run, settings, scorer, out)
    assert generation_calls == [0, 2]

    generation_calls.clear()
    more = dataclasses.replace(settings, n_per_prompt=3)
    per, _, _, _ = _run(run, more, scorer, out)
    assert generation_calls == [0, 2] and (per.n_gen == 3).all()

    generation_calls.clear()
    weights = next((run / "checkpoint-2" / "unet").glob("*.safetensors"))
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as a retrained checkpoint
    _, _, _, lines = _run(run, more, scorer, out)
    assert generation_calls == [2] and "(saved)" in lines[0] and "(generated)" in lines[1]

    generation_calls.clear()
    flipped = dataclasses.replace(scorer, expected=1 - scorer.expected)  # e.g. a retrained question head
    assert flipped.key() != scorer.key() and dataclasses.replace(scorer).key() == scorer.key()
    rescored, _, _, lines = _run(run, more, flipped, out)
    assert generation_calls == [] and all("(rescored)" in line for line in lines)
    np.testing.assert_allclose(rescored.consistency, 1 - per.consistency)
    np.testing.assert_allclose(rescored.realism, per.realism)

    generation_calls.clear()
    (checkpoint_metrics.step_dir(out, 0) / checkpoint_metrics.INPUTS_FILE).unlink()  # an interrupted step
    _run(run, more, flipped, out)
    assert generation_calls == [0]
