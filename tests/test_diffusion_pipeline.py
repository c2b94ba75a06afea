"""Tiny diffusers pipeline: components round trip, tokenizer, VAE pre-training, two-step fine-tune
with resume and EMA, checkpoint rotation and loading, the training images of notebook 08 (synthetic
images and tags; generation in test_diffusion_generate.py)."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_diffusion import (  # noqa: F401 (module fixtures: base_dir, data, one_thread, trained)
    CORPUS,
    SPEC,
    TAGS,
    base_dir,
    data,
    one_thread,
    settings,
    synthetic_images,
    trained,
)

from raregal.paper_b.diffusion import checkpoints, components, finetune, training_pairs, vae


def test_tokenizer_makes_every_corpus_word_one_token_and_round_trips(tmp_path):
    from transformers import AutoTokenizer, CLIPTokenizer

    tok = components.build_tokenizer(CORPUS, max_length=16)
    assert isinstance(tok, CLIPTokenizer)
    for w in components.corpus_words(CORPUS):
        assert tok.tokenize(w) == [w + "</w>"]
    assert len(tok.tokenize("zebra")) >= 1 and tok.unk_token_id not in tok("zebra").input_ids[1:-1]
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("cigar-shaped galaxy, dust lane").input_ids == tok("cigar-shaped galaxy, dust lane").input_ids


def test_components_save_as_a_loadable_diffusers_pipeline(base_dir):
    from diffusers import StableDiffusionPipeline

    index = json.loads((base_dir / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert list((base_dir / "unet").glob("*.safetensors"))
    pipe = StableDiffusionPipeline.from_pretrained(base_dir, safety_checker=None)
    again = components.load_components(base_dir)
    for a, b in zip(pipe.unet.state_dict().values(), again.unet.state_dict().values()):
        assert torch.equal(a, b)
    assert again.noise_scheduler.config.beta_schedule == "scaled_linear"
    assert again.noise_scheduler.config.beta_start == 0.00085
    with pytest.raises(FileNotFoundError, match="not a complete diffusers pipeline folder"):
        components.load_components(base_dir / "unet")


def test_load_components_missing_hub_weights_says_how_to_provide(tmp_path, monkeypatch):
    from raregal.fetch.models import WeightsUnavailableError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="stable-diffusion-v1-5") as err:
        components.load_components("stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert "--download" in str(err.value) or "save_pretrained" in str(err.value)


def test_pretrain_vae_learns_and_scales_latents_to_unit_std():
    comps = components.build_tiny(CORPUS, SPEC, seed=1)
    imgs = synthetic_images()
    before = vae.reconstruction_error(comps.vae, imgs)
    losses = vae.pretrain_vae(comps.vae, imgs, steps=12, batch_size=8, lr=3e-3)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert vae.reconstruction_error(comps.vae, imgs) < before
    lat = vae.encode_latents(comps.vae, imgs)
    assert lat.shape == (8, 2, 4, 8, 8)
    assert float(lat[:, 0].std()) == pytest.approx(1.0, rel=0.05)
    assert not any(p.requires_grad for p in comps.vae.parameters())


def test_min_snr_weights_cap_the_low_noise_timesteps():
    sched = components.noise_scheduler()
    t = torch.tensor([0, 100, 500, 999])
    w = finetune.min_snr_weights(sched, t, gamma=5.0)
    snr = sched.alphas_cumprod[t] / (1 - sched.alphas_cumprod[t])
    assert torch.allclose(w, torch.clamp(snr, max=5.0) / snr)
    assert w[0] < 0.01 and w[-1] == pytest.approx(1.0)  # nearly clean: down-weighted; pure noise: 1
    assert torch.all(w[1:] >= w[:-1]) and torch.all(w <= 1.0)  # more noise, more weight, never above 1


def test_snr_weighted_loss_differs_from_plain_and_trains(base_dir, data, tmp_path):
    comps = components.load_components(base_dir)
    ids = finetune.tokenize(comps.tokenizer, ["dust lane"] * 8)
    lat = data.latents[:, 0]
    gen = torch.Generator().manual_seed(0)
    noise, t = torch.randn(lat.shape, generator=gen), torch.randint(0, 1000, (len(lat),), generator=gen)
    plain = finetune.epsilon_loss(comps.unet, comps.text_encoder, comps.noise_scheduler, lat, ids, noise, t)
    weighted = finetune.epsilon_loss(comps.unet, comps.text_encoder, comps.noise_scheduler, lat, ids, noise, t,
                                     snr_gamma=5.0)
    assert torch.isfinite(weighted) and weighted.item() < plain.item()  # every weight ≤ 1
    summary = finetune.finetune(comps, data, settings(snr_gamma=5.0), tmp_path / "snr", base=base_dir,
                          progress=False)
    assert np.isfinite(summary["final_loss"])
    with pytest.raises(ValueError, match="snr_gamma"):
        settings(snr_gamma=0.0)


def test_bad_images_and_settings_are_rejected():
    with pytest.raises(ValueError, match="colour channels"):
        vae.to_model_range(np.zeros((2, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.to_model_range(np.full((2, 3, 8, 8), 2.0, np.float32))
    with pytest.raises(ValueError, match="steps=0"):
        settings(steps=0)
    with pytest.raises(ValueError, match="multiple of the VAE factor"):
        components.TinySpec(resolution=18)
    with pytest.raises(ValueError, match="one bool per UNet level"):
        components.TinySpec(unet_channels=(16, 32), cross_attention_levels=(True,))


def test_cross_attention_levels_choose_the_unet_blocks():
    spec = components.TinySpec(resolution=16, vae_channels=(8, 16), unet_channels=(16, 32, 32),
                      cross_attention_levels=(False, True, True))
    unet = components.tiny_unet(spec)
    assert unet.config.down_block_types == ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D")
    assert unet.config.up_block_types == ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
    assert components.tiny_unet(SPEC).config.down_block_types == ("CrossAttnDownBlock2D", "DownBlock2D")
    with pytest.raises(ValueError, match="no tags"):
        training_pairs.TrainingSet(torch.zeros(2, 2, 4, 2, 2), [["a"], []], [1, 2])


def test_draw_batch_is_step_keyed_and_shuffles_tag_order(data):
    s = settings(batch_size=8, uncond_prob=0.0)
    a = training_pairs.draw_batch(data, 5, s)
    b = training_pairs.draw_batch(data, 5, s)
    assert np.array_equal(a.indices, b.indices) and torch.equal(a.latents, b.latents)
    assert a.captions == b.captions and torch.equal(a.noise, b.noise) and torch.equal(a.timesteps, b.timesteps)
    assert not torch.equal(a.noise, training_pairs.draw_batch(data, 6, s).noise)
    orders = set()
    for k in range(12):
        batch = training_pairs.draw_batch(data, k, s)
        orders.add(batch.captions[list(batch.indices).index(1)])
    assert orders == {"cigar-shaped galaxy, dust lane", "dust lane, cigar-shaped galaxy"}
    dropped = training_pairs.draw_batch(data, 0, settings(batch_size=8, uncond_prob=0.99)).captions
    assert dropped.count("") >= 6


def test_tag_balance_draws_rare_tags_more_often():
    tags = [["round"]] * 90 + [["round", "ring"]] * 10  # 'ring' is the rare tag
    data = training_pairs.TrainingSet(torch.zeros(100, 2, 1, 2, 2), tags, list(range(100)))
    assert data.sampling_weights(0.0) is None
    w = data.sampling_weights(1.0)
    assert w.sum() == pytest.approx(1.0)
    assert w[90:].sum() == pytest.approx(1 / 1.9)  # 'round' is on all 100: 90 × 1/100 vs 10 × 1/10
    assert w[90:].sum() > data.sampling_weights(0.5)[90:].sum() > 0.1
    s = settings(batch_size=10, uncond_prob=0.0, tag_balance=1.0)
    drawn = np.concatenate([training_pairs.draw_batch(data, k, s).indices for k in range(200)])
    assert 0.42 < np.mean(drawn >= 90) < 0.63  # uniform draws would give 0.1
    with pytest.raises(ValueError, match="tag_balance"):
        settings(tag_balance=-1.0)


def test_two_step_finetune_writes_checkpoints_ema_and_pipeline(trained):
    out, summary = trained
    assert [s for s, _ in checkpoints.list_checkpoints(out)] == [1, 2]
    for sub in ("unet", "text_encoder"):
        assert list((out / "checkpoint-2" / sub).glob("*.safetensors"))
    assert (out / "checkpoint-2" / "hyperparameters.json").exists()  # written last: complete
    assert (out / "pipeline" / "model_index.json").exists()
    assert summary["steps_run"] == 2 and np.isfinite(summary["final_loss"])
    assert summary["peak_lr"] == pytest.approx(4e-4)
    log = (out / "train_log.csv").read_text().splitlines()
    assert log[0] == "step,loss,lr" and len(log) == 3
    ema = checkpoints.components_at(out, 2, use_ema=True)
    plain = checkpoints.components_at(out, 2, use_ema=False)
    final = checkpoints.components_at(out, None)
    diff = [not torch.equal(a, b) for a, b in zip(ema.unet.parameters(), plain.unet.parameters())]
    assert any(diff), "EMA weights must differ from the trained weights"
    for a, b in zip(ema.unet.parameters(), final.unet.parameters()):
        assert torch.equal(a, b)  # pipeline/ holds the EMA weights


def test_resume_from_latest_reproduces_the_uninterrupted_run(trained, base_dir, data, tmp_path):
    out, _ = trained
    resumed = tmp_path / "run"
    shutil.copytree(out, resumed)
    shutil.rmtree(resumed / "checkpoint-2")
    shutil.rmtree(resumed / "pipeline")
    summary = finetune.finetune(components.load_components(base_dir), data, settings(), resumed, base=base_dir,
                          progress=False)
    assert summary["resumed_from"] == 1 and summary["steps_run"] == 1
    a = checkpoints.components_at(out, 2, use_ema=False)
    b = checkpoints.components_at(resumed, 2, use_ema=False)
    params_a = list(a.unet.parameters()) + list(a.text_encoder.parameters())
    params_b = list(b.unet.parameters()) + list(b.text_encoder.parameters())
    for p, q in zip(params_a, params_b):
        assert torch.allclose(p, q, atol=1e-6)
    ea = checkpoints.read_ema(out / "checkpoint-2", params_a)
    eb = checkpoints.read_ema(resumed / "checkpoint-2", params_b)
    assert ea.optimization_step == eb.optimization_step == 2
    assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(ea.shadow_params, eb.shadow_params))


def test_a_moved_fine_tune_still_finds_its_base(base_dir, data, tmp_path):
    run = tmp_path / "repo" / "diffusion"
    shutil.copytree(base_dir, run / "base")  # the tiny pipeline keeps its base inside the run folder
    finetune.finetune(components.load_components(run / "base"), data, settings(steps=1), run, base=run / "base",
                progress=False)
    assert json.loads((run / "finetune.json").read_text())["base"] == "base"
    moved = tmp_path / "elsewhere"
    shutil.move(str(tmp_path / "repo"), moved)  # e.g. a copied or re-cloned repository
    comps = checkpoints.components_at(moved / "diffusion", "latest")
    assert comps.info["checkpoint_step"] == 1
    assert checkpoints.base_of(moved / "diffusion") == str(moved / "diffusion" / "base")


def test_checkpoint_total_limit_keeps_the_newest(base_dir, data, tmp_path):
    finetune.finetune(components.load_components(base_dir), data, settings(steps=3, checkpoints_total_limit=2),
                tmp_path, base=base_dir, progress=False)
    assert [s for s, _ in checkpoints.list_checkpoints(tmp_path)] == [2, 3]
    with pytest.raises(FileNotFoundError, match="no checkpoint-1"):
        checkpoints.resolve_checkpoint(tmp_path, 1)


def test_vae_work_runs_on_the_asked_device_and_leaves_the_vae_where_it_was(base_dir, monkeypatch):
    comps = components.load_components(base_dir)
    assert components.compute_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert components.compute_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert components.compute_device() == torch.device("cuda")  # the default follows CUDA (no allocation here)
    lat = vae.encode_latents(comps.vae, synthetic_images(), device="cpu")
    assert lat.device.type == "cpu" and lat.shape == (8, 2, 4, 8, 8)
    assert next(comps.vae.parameters()).device.type == "cpu"
    moves = []

    class Spy(torch.nn.Linear):  # records moves instead of making them (no GPU needed)
        def to(self, *args, **kwargs):
            moves.append(args[0])
            return self

    with pytest.raises(RuntimeError, match="inside"):
        with components.on_device(Spy(2, 2), "cuda") as dev:
            assert dev == torch.device("cuda")
            raise RuntimeError("inside the block")
    assert moves == [torch.device("cuda"), torch.device("cpu")]  # moved back after an error too


def test_encode_batches_shrink_with_image_size_and_give_the_same_latents(base_dir):
    assert vae.encode_batch_size(64) == 128 and vae.encode_batch_size(424) == 11 and vae.encode_batch_size(4096) == 1
    comps = components.load_components(base_dir)
    imgs = synthetic_images()
    whole = vae.encode_latents(comps.vae, imgs, batch_size=8, device="cpu")
    pieces = vae.encode_latents(comps.vae, imgs, batch_size=3, device="cpu")
    torch.testing.assert_close(whole, pieces, rtol=1e-4, atol=1e-5)


def test_train_pipeline_reuses_a_finished_run_refuses_other_settings_and_retrains(tmp_path):
    from raregal.core.config import SECTIONS

    section = {**SECTIONS["diffusion"]["smoke"], "batch_size": 4}  # 16 px tiny pipeline, 2 steps
    imgs, model_dir = synthetic_images(), tmp_path / "diffusion"
    tags = [["completely_round"] if i % 2 == 0 else ["cigar_shaped", "dust_lane"] for i in range(8)]  # names
    first = finetune.train_pipeline(model_dir, imgs, tags, list(range(8)), section, CORPUS, progress=False)
    assert first["loaded"] is False and first["steps_run"] == 2 and len(first["vae_losses"]) == 2
    written = (model_dir / "checkpoint-2" / "hyperparameters.json").stat().st_mtime_ns
    again = finetune.train_pipeline(model_dir, imgs, tags, list(range(8)), section, CORPUS, progress=False)
    assert again["loaded"] is True and again["settings"]["steps"] == 2 and "steps_run" not in again
    assert (model_dir / "checkpoint-2" / "hyperparameters.json").stat().st_mtime_ns == written  # not retrained
    longer = {**section, "steps": 3}
    with pytest.raises(ValueError, match="other settings"):
        finetune.train_pipeline(model_dir, imgs, tags, list(range(8)), longer, CORPUS, progress=False)
    with pytest.raises(ValueError, match="other settings"):  # the seed is a setting too
        finetune.train_pipeline(model_dir, imgs, tags, list(range(8)), section, CORPUS, seed=1, progress=False)
    redone = finetune.train_pipeline(model_dir, imgs, tags, list(range(8)), longer, CORPUS, retrain=True,
                                     progress=False)
    assert redone["loaded"] is False and redone["resumed_from"] == 0 and redone["steps_run"] == 3
    assert [s for s, _ in checkpoints.list_checkpoints(model_dir)] == [1, 2, 3]
    assert "vae_losses" in redone  # base/ was deleted with the run and built again
    assert checkpoints.read_record(model_dir)["settings"]["steps"] == 3


def test_tokenizer_is_the_same_in_every_process():
    """Token ids fix the text encoder's embedding rows: two fresh processes must build the same ones."""
    import subprocess
    import sys

    code = ("import json; from raregal.paper_b.diffusion import components; "
            f"t = components.build_tokenizer({CORPUS!r}, max_length=16); "
            "print(json.dumps(t.get_vocab(), sort_keys=True))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs[0] == runs[1] and len(json.loads(runs[0])) > 2 * 256


def test_bpe_merges_take_the_most_frequent_pair_and_break_ties_by_text():
    from collections import Counter

    words = Counter({"ab": 3, "cd": 3, "abd": 1, "ee": 5})  # symbols: a b</w>; c d</w>; a b d</w>; e e</w>
    merges = components.bpe_merges(words, n_merges=10)
    # ("e", "e</w>") is the most frequent (5); ("a", "b</w>") and ("c", "d</w>") tie at 3: text decides
    assert merges[:3] == [("e", "e</w>"), ("a", "b</w>"), ("c", "d</w>")]
    assert merges[3:] == [("a", "b"), ("ab", "d</w>")]  # then abd, until every word is one symbol
    assert components.bpe_merges(Counter({"xy": 1}), n_merges=0) == []


def test_a_checkpoint_loads_in_a_process_that_never_trained(trained):
    """Notebooks 10–12 read checkpoints without an Accelerator (accelerate's state is not set up)."""
    from accelerate.state import AcceleratorState

    out, _ = trained
    AcceleratorState._reset_state(reset_partial_state=True)
    latest = checkpoints.components_at(out, step="latest")  # EMA weights of the last checkpoint
    final = checkpoints.components_at(out)  # pipeline/: the EMA weights exported at the end
    for a, b in zip(latest.unet.state_dict().values(), final.unet.state_dict().values()):
        assert torch.equal(a, b)


def test_training_images_come_from_the_run_store_at_the_training_size(tmp_path):
    """Notebook 08 reads through the image store (the profile's field of view), not the raw folder."""
    from raregal.core.images import ImageBatch

    class Store:
        image_dir = tmp_path

        def __init__(self):
            self.asked = []

        def read(self, ids, size=None):
            self.asked.append((list(ids), size))
            return ImageBatch(np.full((len(ids), size, size, 3), 7, np.uint8), np.asarray(ids),
                              pd.DataFrame(columns=["id", "reason"]))

    tags = pd.DataFrame({"dr7objid": [5, 6], "tags": ["smooth", "spiral"], "in_diffusion_train": [True, True]})
    store = Store()
    imgs, ids, tag_lists, drops = training_pairs.load_training_images(tags, store, 16)
    assert store.asked[0][1] == 16 and sorted(ids) == [5, 6] and imgs.shape == (2, 16, 16, 3)
    assert sorted(map(tuple, tag_lists)) == [("smooth",), ("spiral",)] and drops.empty
