"""Generation from the tiny diffusers pipeline: seeded text-to-image and img2img, checkpoints by step,
paired prompts, the fine-tune resolution and the Fig. 3 grid (synthetic images and tags)."""
import numpy as np
import pytest
import torch
from tiny_diffusion import (  # noqa: F401 (module fixtures: base_dir, data, one_thread, trained)
    TAGS,
    base_dir,
    data,
    one_thread,
    settings,
    synthetic_images,
    trained,
)

from raregal.paper_b.diffusion import components, finetune, generate, training_pairs, vae


def test_img2img_and_text2img_generation_is_seeded_and_written(trained, tmp_path):
    out, _ = trained
    pipes = generate.load_pipelines(out, step=2)
    refs = synthetic_images(2, size=32)  # resized to the pipeline's 16 px
    reqs = [generate.Request("completely round galaxy", 11, reference=refs[0], reference_id=101, key="B"),
            generate.Request("cigar-shaped galaxy, {dust lane:1.3}", 12, key="K"),
            generate.Request("completely round galaxy", 11, reference=refs[0], reference_id=101, key="B")]
    ims, meta = generate.generate(pipes[:2], reqs, out_dir=tmp_path, steps=4, strength=0.5, batch_size=2,
                           checkpoint_step=pipes[2], progress=False)
    assert ims.shape == (3, 16, 16, 3) and ims.dtype == np.uint8
    assert np.array_equal(ims[0], ims[2])  # same prompt, seed and reference → same image
    assert list(meta["mode"]) == ["img2img", "text2img", "img2img"]
    assert meta.loc[1, "weights"] == "dust lane:1.3" and meta.loc[1, "prompt_text"] == "cigar-shaped galaxy, dust lane"
    assert set(meta.checkpoint_step) == {2}
    assert (tmp_path / "metadata.csv").exists()
    assert all((tmp_path / f).exists() for f in meta.file)
    alone, _ = generate.generate(pipes[:2], reqs[1:2], steps=4, batch_size=1, progress=False)
    assert np.array_equal(alone[0], ims[1])  # an image does not depend on its batch
    weak, _ = generate.generate(pipes[:2], reqs[:1], steps=10, strength=0.1, progress=False)
    strong, _ = generate.generate(pipes[:2], reqs[:1], steps=10, strength=1.0, progress=False)
    ref16 = vae.to_model_range(refs[:1])
    ref16 = ((torch.nn.functional.interpolate(ref16, size=(16, 16), mode="bilinear", antialias=True) + 1) * 127.5)
    ref16 = ref16[0].permute(1, 2, 0).numpy()
    assert np.abs(weak[0] - ref16).mean() < np.abs(strong[0] - ref16).mean()
    with pytest.raises(Exception, match="unbalanced"):
        generate.generate(pipes[:2], [generate.Request("{dust lane:1.3", 1)], steps=2, progress=False)


def test_generate_for_prompt_from_a_checkpoint(trained):
    out, _ = trained
    ims, meta = generate.generate_for_prompt(out, "edge-on galaxy", 3, step="latest", seed=5, steps=2,
                                      progress=False)
    assert ims.shape == (3, 16, 16, 3)
    assert list(meta.seed) == [5, 6, 7]
    with pytest.raises(ValueError, match="n must be"):
        generate.generate_for_prompt(out, "edge-on galaxy", 0)


def test_paired_difference_is_zero_for_equal_and_scales_with_change():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[1] = 255
    assert np.allclose(generate.paired_difference(a, b), [0.0, 1.0])
    with pytest.raises(ValueError, match="same"):
        generate.paired_difference(a, b[:1])


def test_prompt_pairs_share_seeds_and_measure_each_change(trained):
    out, _ = trained
    pipes = generate.load_pipelines(out, step=2)
    pairs = {"same": ("edge-on galaxy", "edge-on galaxy"),
             "dust lane": ("edge-on galaxy, {dust lane:1.3}", "edge-on galaxy")}
    images, table = generate.prompt_pairs(pipes[:2], pairs, n_seeds=2, steps=3, progress=False)
    assert set(images) == set(pairs) and images["same"][0].shape == (2, 16, 16, 3)
    assert np.array_equal(images["same"][0], images["same"][1])  # same prompt and seed → same image
    assert np.array_equal(images["same"][0], images["dust lane"][1])  # seeds shared across pairs
    row = table.set_index("pair")
    assert row.loc["same", "ours"] == 0 and row.loc["dust lane", "n"] == 2
    assert np.isclose(row.loc["dust lane", "ours"],
                      generate.paired_difference(*images["dust lane"]).mean())
    with pytest.raises(ValueError, match="n_seeds"):
        generate.prompt_pairs(pipes[:2], pairs, n_seeds=0)


def test_the_pipeline_generates_at_the_fine_tune_resolution(base_dir, tmp_path):
    """A base whose UNet says another size (SD-1.5 says 64 latents = 512 px) fine-tuned at 24 px (12
    latents) must generate 24-px images, not the base's 16 px."""
    comps = components.load_components(base_dir)
    assert comps.unet.config.sample_size == 8
    imgs = synthetic_images(size=24)
    data = training_pairs.TrainingSet(vae.encode_latents(comps.vae, imgs), TAGS, list(range(8)))
    finetune.finetune(comps, data, settings(steps=1), tmp_path / "run", base=base_dir, progress=False)
    for step in (None, 1):
        pipes = generate.load_pipelines(tmp_path / "run", step=step, device="cpu")
        out, _ = generate.generate(pipes[:2], [generate.Request("dust lane", 0)], steps=2, progress=False)
        assert out.shape == (1, 24, 24, 3), step


def test_fig3_names_the_source_of_its_top_row():
    import matplotlib.pyplot as plt

    gen = {"A": np.zeros((2, 8, 8, 3), np.uint8)}
    for source in ("mock", "real"):
        fig = plt.figure()
        axes = generate.plot_prompt_grid(fig, ["A"], {"A": np.zeros((8, 8, 3), np.uint8)}, gen, source=source)
        assert axes[0, 0].get_ylabel() == f"{source}\ngalaxy"
        assert "real\nreal" not in axes[0, 0].get_ylabel()
        plt.close(fig)
