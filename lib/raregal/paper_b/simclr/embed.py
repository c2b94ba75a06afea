"""The SimCLR embedding f_φ of galaxies: pooled trunk features for the metrics, probes and Fig. A2.

As in SimCLR, the features are the pooled trunk output, not the projection (Ma et al. 2025
Appendix A). Notebook 09 embeds the labelled galaxies once (``embeddings.npz``) for notebooks 10
and 11.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from raregal.core.outputs import atomic_path
from raregal.paper_b.simclr.model import SimCLRModel, prepare_images

EMBEDDINGS = "embeddings.npz"  # dr7objid + features of the labelled galaxies (notebook 09)


@torch.no_grad()
def embed(model: SimCLRModel, images: Any, batch_size: int = 256, projection: bool = False) -> np.ndarray:
    """Encoder features f_φ(x) (N, feature_dim) of images, or with ``projection`` the head's output
    z (N, proj_dim) on which NT-Xent measured cosine similarity; wrong sizes are resized with a warning."""
    x = prepare_images(images, model.settings.image_size)
    was_training = model.training
    model.eval()
    net = model if projection else model.encoder
    out = [net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    if not out:
        return np.zeros((0, model.settings.proj_dim if projection else model.feature_dim), dtype=np.float32)
    return torch.cat(out).numpy().astype(np.float32)


def embed_stored(model: SimCLRModel, store: Any, ids: Sequence, batch_size: int = 512,
                 size: int | None = None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Embed the galaxies ``ids`` of an image store (:class:`raregal.core.image_store.ImageStore`) in
    batches; returns (ids read, features, drops with a reason per unread id).

    Images are read at ``size`` (default: the encoder's) and then resized to the encoder's size, so
    real galaxies can be seen at a generator's resolution, like the images it makes.
    """
    from raregal.core.images import to_tensor

    got_ids, feats, drops = [], [], []
    for batch in store.iter_batches(ids, size=size or model.settings.image_size, batch_size=batch_size):
        drops.append(batch.drops)
        if len(batch.ids):
            got_ids.append(batch.ids)
            with warnings.catch_warnings():  # a size asked for explicitly: no per-batch warning
                warnings.filterwarnings("ignore", message="resizing")
                feats.append(embed(model, to_tensor(batch.images), batch_size=batch_size))
    if not feats:
        return (np.zeros(0, np.int64), np.zeros((0, model.feature_dim), np.float32),
                pd.concat(drops) if drops else pd.DataFrame(columns=["id", "reason"]))
    return np.concatenate(got_ids), np.concatenate(feats), pd.concat(drops, ignore_index=True)


def save_embeddings(path: Path | str, ids: np.ndarray, features: np.ndarray) -> None:
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, dr7objid=np.asarray(ids, np.int64), features=np.asarray(features, np.float32))


def load_embeddings(path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    from raregal.core.config import require

    with np.load(require(Path(path), made_by="09_simclr")) as z:
        return z["dr7objid"], z["features"]


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0,
            max_iter: int = 500) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA init) for Fig. A2; perplexity capped at a quarter of the points.

    Runs single-threaded: on a shared 2-core machine t-SNE's OpenMP threads spin-wait and a
    126-point map took 40 s with 2 threads against 1 s with one.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float32)
    if len(features) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {len(features)}")
    perp = float(min(perplexity, max(2.0, (len(features) - 1) / 4)))
    with threadpool_limits(1):
        return TSNE(n_components=2, perplexity=perp, init="pca", max_iter=max_iter,
                    random_state=seed).fit_transform(features)
