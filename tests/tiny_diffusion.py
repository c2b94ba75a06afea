"""The tiny diffusers pipeline the diffusion tests share: a 16 px spec, round blobs and bars with
their tags, and module fixtures for a saved base, its latents and a two-step fine-tune."""
import numpy as np
import pytest
import torch

from raregal.core.config import torch_threads
from raregal.paper_b.diffusion import components, finetune, training_pairs, vae

CORPUS = ["completely round galaxy", "cigar-shaped galaxy", "dust lane", "edge-on galaxy"]
SPEC = components.TinySpec(resolution=16, vae_channels=(8, 16), unet_channels=(16, 32), text_hidden=32,
                  text_layers=1, text_heads=2, max_length=16)


def synthetic_images(n=8, size=16, seed=0):
    """Round blobs and horizontal bars: two classes a model could tell apart."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    out = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):
        q = 1.0 if i % 2 == 0 else 0.3
        blob = np.exp(-(xx ** 2 + (yy / q) ** 2) / (2 * (size / 6) ** 2))
        out[i] = (np.clip(blob[..., None] * [0.9, 0.8, 0.6] + rng.normal(0, 0.02, (size, size, 3)),
                          0, 1) * 255).astype(np.uint8)
    return out


TAGS = [["completely round galaxy"] if i % 2 == 0 else ["cigar-shaped galaxy", "dust lane"]
        for i in range(8)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def settings(**kw):
    base = dict(steps=2, batch_size=4, lr_per_sample=1e-4, warmup_steps=1, checkpoint_every=1,
                uncond_prob=0.25, ema_decay=0.9, seed=3)
    base.update(kw)
    return finetune.FinetuneSettings(**base)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    torch.manual_seed(0)
    comps = components.build_tiny(CORPUS, SPEC, seed=0)
    vae.pretrain_vae(comps.vae, synthetic_images(), steps=2, batch_size=4)
    folder = tmp_path_factory.mktemp("tiny") / "base"
    comps.save(folder)
    return folder


@pytest.fixture(scope="module")
def data(base_dir):
    comps = components.load_components(base_dir)
    lat = vae.encode_latents(comps.vae, synthetic_images())
    return training_pairs.TrainingSet(lat, TAGS, list(range(8)))


@pytest.fixture(scope="module")
def trained(base_dir, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ft") / "run"
    summary = finetune.finetune(components.load_components(base_dir), data, settings(), out, base=base_dir,
                          progress=False)
    return out, summary
