"""SimCLR galaxy embedding (paper B Appendix A): the encoder f_φ behind realism and diversity.

A ResNet-18 trunk (:mod:`raregal.paper_b.backbone`, width a profile value) plus a two-layer projection head is
trained so two augmented views of one galaxy land together and views of different galaxies apart
(NT-Xent / InfoNCE, τ = 0.5, Adam lr 1e-3). Augmentations run batched on tensors with kornia: random
resized crop, horizontal and vertical flips, rotation by any angle (a galaxy has no preferred
orientation) and colour jitter. :func:`embed` returns the pooled trunk features (not the projection),
as in SimCLR, for the metrics and the probes.

One deviation from the paper's formula: it sums over the N anchors x_i^a; we average over all 2N
views (the symmetric form of Chen et al. 2020), which only rescales the loss.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from raregal.core.images import resize
from raregal.core.outputs import atomic_path
from raregal.paper_b.backbone import build_resnet18

CHECKPOINT = "simclr.pt"
HISTORY = "history.csv"
EMBEDDINGS = "embeddings.npz"  # dr7objid + features of the labelled galaxies (notebook 09)

# One morphology class per galaxy for Fig. A2 colours and the multi-class probe: the first of these
# tags (raregal.paper_b.labels names) that the galaxy carries, rare and specific features first.
MORPHOLOGY_ORDER = ("merger", "ring", "dust_lane", "edge_on", "bar", "spiral", "cigar_shaped",
                    "in_between_round", "completely_round")
# Binary probe tasks: the classification targets of paper B §4.2 plus smoothness.
PROBE_TASKS = {"spiral": ("spiral",), "edge-on": ("edge_on",), "bar": ("bar",),
               "obvious bulge": ("bulge_obvious", "bulge_dominant"),
               "smooth": ("smooth", "completely_round", "in_between_round", "cigar_shaped")}


@dataclass(frozen=True)
class SimCLRSettings:
    """Everything that fixes a SimCLR run; stored in the checkpoint so it reloads itself."""

    image_size: int = 64
    width: float = 1.0
    proj_dim: int = 128
    temperature: float = 0.5
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 10
    crop_scale: tuple[float, float] = (0.5, 1.0)
    rotation_deg: float = 180.0
    jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.02)  # brightness, contrast, sat, hue:
    # milder than ImageNet SimCLR because a galaxy's colour is morphology (red bulges, blue arms)
    jitter_p: float = 0.8
    val_fraction: float = 0.1
    pretrained: str | None = None
    seed: int = 0

    def __post_init__(self):
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16 px, got {self.image_size}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (NT-Xent needs negatives), got {self.batch_size}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def same_model(self, other: "SimCLRSettings") -> bool:
        """True when only the epoch count differs (so a checkpoint can be resumed)."""
        return dataclasses.replace(self, epochs=0) == dataclasses.replace(other, epochs=0)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SimCLRSettings":
        d = dict(d)
        for k in ("crop_scale", "jitter"):
            if k in d and d[k] is not None:
                d[k] = tuple(d[k])
        return cls(**d)


# ---------------------------------------------------------------------------------------------
# model, augmentation, loss
# ---------------------------------------------------------------------------------------------
class SimCLRModel(nn.Module):
    """Encoder (ResNet-18 trunk) + projection head; ``forward`` gives the projections z."""

    def __init__(self, settings: SimCLRSettings):
        super().__init__()
        self.settings = settings
        self.encoder = build_resnet18(settings.width, settings.pretrained)
        d = self.encoder.feature_dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, settings.proj_dim))

    @property
    def feature_dim(self) -> int:
        return self.encoder.feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


def galaxy_augment(image_size: int, crop_scale: tuple[float, float], rotation_deg: float = 180.0,
                   jitter: tuple[float, float, float, float] | None = None,
                   jitter_p: float = 0.0) -> nn.Module:
    """Batched kornia augmentations for galaxies (no preferred orientation): random resized crop,
    h/v flips, rotation, and optional colour jitter (brightness, contrast, saturation, hue).

    SimCLR views use all of them; the classifiers' standard augmentation leaves the colours alone.
    """
    import kornia.augmentation as K

    steps = [K.RandomResizedCrop((image_size, image_size), scale=crop_scale),
             K.RandomHorizontalFlip(),
             K.RandomVerticalFlip(),
             K.RandomRotation(degrees=rotation_deg, p=1.0)]
    if jitter is not None:
        steps.append(K.ColorJitter(*jitter, p=jitter_p))
    return K.AugmentationSequential(*steps)


def make_augment(settings: SimCLRSettings) -> nn.Module:
    """The SimCLR views: :func:`galaxy_augment` with the settings' crop, rotation and colour jitter."""
    return galaxy_augment(settings.image_size, settings.crop_scale, settings.rotation_deg,
                          settings.jitter, settings.jitter_p)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> tuple[torch.Tensor, float]:
    """NT-Xent over 2N views; returns (mean loss, top-1 = fraction whose positive ranks first).

    Row k of ``z1`` and row k of ``z2`` are the two views of one image; every other of the 2N−1
    views is a negative. Similarities are cosine / τ.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must be (N, d) of one shape, got {tuple(z1.shape)}, {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 2:
        raise ValueError("NT-Xent needs at least 2 images per batch (there are no negatives otherwise)")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T) / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    loss = F.cross_entropy(sim, targets)
    top1 = (sim.argmax(dim=1) == targets).float().mean().item()
    return loss, top1


# ---------------------------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------------------------
def prepare_images(images: Any, image_size: int) -> torch.Tensor:
    """Check a batch is float RGB (N, 3, H, W) in [0, 1]; resize (with a warning) to ``image_size``.

    uint8 input is scaled by 1/255. Wrong channel counts, channels-last arrays, NaNs or float values
    outside [0, 1] are refused with a message: they would be embedded as something they are not.
    """
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.ndim != 4:
        raise ValueError(f"expected a batch of images (N, 3, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != 3:
        hint = (" (it looks channels-last: transpose to (N, 3, H, W))" if x.shape[-1] == 3 else "")
        raise ValueError(f"expected 3 colour channels in axis 1 of (N, 3, H, W), got shape "
                         f"{tuple(x.shape)}{hint}; grey or 4-band images are not RGB galaxy images")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    elif not torch.is_floating_point(x):
        raise ValueError(f"expected float images in [0, 1] or uint8, got dtype {x.dtype}")
    x = x.float()
    if x.numel() and not torch.isfinite(x).all():
        raise ValueError(f"{int((~torch.isfinite(x)).flatten(1).any(1).sum())} image(s) contain NaN/inf")
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"float images must be in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]"
                         f" (0–255 data should be uint8 or divided by 255)")
    if x.shape[-2:] != (image_size, image_size):
        warnings.warn(f"resizing {x.shape[0]} image(s) from {x.shape[-2]}×{x.shape[-1]} to "
                      f"{image_size}×{image_size} px for the encoder", stacklevel=2)
        x = resize(x, image_size).clamp_(0, 1)
    return x


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def _split(n: int, settings: SimCLRSettings) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(n)
    n_val = int(round(n * settings.val_fraction))
    if settings.val_fraction > 0:
        n_val = max(n_val, 2)
    if n - n_val < 2:
        raise ValueError(f"{n} images leave {n - n_val} for training; SimCLR needs at least 2")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(idx: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Mini-batches of ``idx`` (shuffled if rng); a final batch of 1 joins the previous one."""
    if rng is not None:
        idx = rng.permutation(idx)
    out = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2] = np.concatenate([out[-2], out.pop()])
    return out


def _contrastive_pass(model, augment, x, batches, settings, optimizer=None) -> tuple[float, float]:
    """One pass over ``batches``: mean loss and top-1 weighted by batch size (trains if optimizer)."""
    tot_loss = tot_top1 = 0.0
    n = 0
    for b in batches:
        xb = x[torch.as_tensor(b)]
        with torch.no_grad():
            v1, v2 = augment(xb), augment(xb)
        with torch.set_grad_enabled(optimizer is not None):
            loss, top1 = nt_xent(model(v1), model(v2), settings.temperature)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        tot_loss += loss.item() * len(b)
        tot_top1 += top1 * len(b)
        n += len(b)
    return tot_loss / max(n, 1), tot_top1 / max(n, 1)


def train_simclr(images: Any, out_dir: Path | str, settings: SimCLRSettings,
                 resume: bool = True, log=print) -> pd.DataFrame:
    """Train (or resume) SimCLR on ``images`` (N, 3, H, W); checkpoint and history every epoch.

    Writes ``out_dir/simclr.pt`` (settings, weights, optimiser, history) and ``out_dir/history.csv``
    (epoch, train/val loss and top-1, seconds). A checkpoint with the same settings and fewer epochs
    is resumed; each epoch reseeds from (seed, epoch), so 2 epochs = 1 epoch + resume 1 exactly.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = prepare_images(images, settings.image_size)
    train_idx, val_idx = _split(len(x), settings)
    torch.manual_seed(settings.seed)
    model = SimCLRModel(settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    augment = make_augment(settings)
    history: list[dict] = []
    ckpt_path = out_dir / CHECKPOINT
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        old = SimCLRSettings.from_dict(ckpt["settings"])
        if not old.same_model(settings):
            raise ValueError(f"{ckpt_path} was trained with different settings ({old}); "
                             f"use another out_dir or resume=False")
        if ckpt["n_images"] != len(x):
            raise ValueError(f"{ckpt_path} was trained on {ckpt['n_images']} images, got {len(x)}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history = list(ckpt["history"])
        log(f"resuming {ckpt_path} after epoch {len(history)}")
    for epoch in range(len(history) + 1, settings.epochs + 1):
        t0 = _now()
        torch.manual_seed(settings.seed * 100_003 + epoch)
        rng = np.random.default_rng([settings.seed, epoch])
        model.train()
        tr_loss, tr_top1 = _contrastive_pass(model, augment, x, _batches(train_idx, settings.batch_size, rng),
                                             settings, optimizer)
        row = {"epoch": epoch, "train_loss": tr_loss, "train_top1": tr_top1,
               "val_loss": math.nan, "val_top1": math.nan}
        if len(val_idx) >= 2:
            model.eval()
            torch.manual_seed(settings.seed * 7 + 1)  # same validation views every epoch
            row["val_loss"], row["val_top1"] = _contrastive_pass(
                model, augment, x, _batches(val_idx, settings.batch_size, None), settings)
        row["seconds"] = _now() - t0
        history.append(row)
        log(f"epoch {epoch}/{settings.epochs}: loss {tr_loss:.4f} top-1 {tr_top1:.3f} | "
            f"val loss {row['val_loss']:.4f} top-1 {row['val_top1']:.3f} ({row['seconds']:.1f} s)")
        _save(ckpt_path, model, optimizer, settings, history, len(x))
    if not ckpt_path.exists():  # epochs=0: still leave a loadable (untrained) encoder
        _save(ckpt_path, model, optimizer, settings, history, len(x))
    hist = pd.DataFrame(history, columns=["epoch", "train_loss", "train_top1", "val_loss", "val_top1",
                                          "seconds"])
    with atomic_path(out_dir / HISTORY) as tmp:
        hist.to_csv(tmp, index=False)
    return hist


def _now() -> float:
    import time

    return time.perf_counter()


def _save(path: Path, model, optimizer, settings, history, n_images) -> None:
    with atomic_path(path) as tmp:
        torch.save({"settings": dataclasses.asdict(settings), "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "history": history, "n_images": n_images}, tmp)


def load_simclr(path: Path | str) -> SimCLRModel:
    """Rebuild a trained model from ``simclr.pt`` (or its folder), in eval mode."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no SimCLR checkpoint at {path}: run notebook 09_simclr first")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    settings = SimCLRSettings.from_dict({**ckpt["settings"], "pretrained": None})
    model = SimCLRModel(settings)
    model.load_state_dict(ckpt["model"])
    model.settings = SimCLRSettings.from_dict(ckpt["settings"])
    return model.eval()


def load_history(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    return pd.read_csv(path / HISTORY if path.is_dir() else path)


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


def linear_probe(features: np.ndarray, labels: Any, test_fraction: float = 0.3,
                 seed: int = 0) -> dict[str, Any]:
    """Held-out accuracy of a logistic regression on frozen features (the SimCLR linear probe).

    Returns the fitted ``model`` (standardise + logistic, balanced class weights), ``accuracy``,
    ``balanced_accuracy``, ``chance`` (majority-class share of the test split), ``n_train``, ``n_test``.
    Labels with fewer than 2 classes, or a class with < 2 members, are refused by name.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"a probe needs at least 2 classes, got only {classes.tolist()}")
    if counts.min() < 2:
        raise ValueError(f"class(es) {classes[counts < 2].tolist()} have fewer than 2 examples")
    x_tr, x_te, y_tr, y_te = train_test_split(features, labels, test_size=test_fraction,
                                              random_state=seed, stratify=labels)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    with threadpool_limits(1):  # small fits: BLAS threads only spin-wait on a shared 2-core machine
        model.fit(x_tr, y_tr)
    pred = model.predict(x_te)
    _, test_counts = np.unique(y_te, return_counts=True)
    return {"model": model, "accuracy": float(accuracy_score(y_te, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_te, pred)),
            "chance": float(test_counts.max() / len(y_te)), "n_train": len(y_tr), "n_test": len(y_te)}


def morphology_class(tag_table: pd.DataFrame, order: Sequence[str] = MORPHOLOGY_ORDER) -> np.ndarray:
    """Per galaxy, the first tag of ``order`` it carries ('' when none) from ``tag_<name>`` columns."""
    missing = [t for t in order if f"tag_{t}" not in tag_table.columns]
    if missing:
        raise KeyError(f"tag table lacks columns {['tag_' + t for t in missing]}")
    out = np.full(len(tag_table), "", dtype=object)
    for tag in reversed(order):
        out[tag_table[f"tag_{tag}"].to_numpy(bool)] = tag
    return out


def probe_labels(tag_table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Labels for the probes: the morphology class (multi-class) and the binary :data:`PROBE_TASKS`."""
    labels = {"morphology class": morphology_class(tag_table)}
    for task, tags in PROBE_TASKS.items():
        labels[task] = tag_table[[f"tag_{t}" for t in tags]].to_numpy(bool).any(axis=1)
    return labels


def probe_table(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], seed: int = 0,
                min_class: int = 5) -> pd.DataFrame:
    """Long table of held-out linear-probe accuracy per (task, encoder).

    ``features``: encoder name → (N, d), rows aligned with the label arrays. Rows labelled '' and
    classes with fewer than ``min_class`` galaxies are left out and named in ``note``; a task left
    with fewer than 2 classes gets NaN and the reason, never a silent gap.
    """
    rows = []
    for task, y in labels.items():
        y = np.asarray(y)
        keep = (y != "") if y.dtype == object else np.ones(len(y), bool)
        classes, counts = np.unique(y[keep], return_counts=True)
        rare = classes[counts < min_class]
        keep &= ~np.isin(y, rare)
        note = f"left out (< {min_class} galaxies): {', '.join(map(str, rare))}; " if len(rare) else ""
        for enc, f in features.items():
            if len(np.unique(y[keep])) < 2:
                rows.append({"task": task, "encoder": enc, "quantity": "accuracy", "ours": np.nan,
                             "paper": np.nan, "n": 0, "note": note + "skipped: fewer than 2 classes"})
                continue
            res = linear_probe(f[keep], y[keep], seed=seed)
            for q in ("accuracy", "balanced_accuracy"):
                rows.append({"task": task, "encoder": enc, "quantity": q.replace("_", " "),
                             "ours": res[q], "paper": np.nan, "n": res["n_test"],
                             "note": note + f"chance (majority) {res['chance']:.3f}; "
                                            f"{len(np.unique(y[keep]))} classes"})
            sep = cosine_separation(f[keep], y[keep])
            rows.append({"task": task, "encoder": enc, "quantity": "cosine gap (within - between)",
                         "ours": sep["gap"], "paper": np.nan, "n": int(keep.sum()),
                         "note": note + f"mean cosine within {sep['within']:.3f}, "
                                        f"between {sep['between']:.3f}"})
    return pd.DataFrame(rows)


def cosine_separation(features: np.ndarray, labels: Any) -> dict[str, float]:
    """Mean cosine similarity within classes and between classes ('' labels left out).

    Realism and diversity (notebook 10) are cosine similarities, so what matters for them is this
    geometry, not only linear separability: an untrained ResNet maps every galaxy to nearly the same
    direction (cosine ≈ 0.99), leaving no room between a good and a bad match.
    """
    from sklearn.metrics.pairwise import cosine_similarity

    labels = np.asarray(labels)
    keep = labels != "" if labels.dtype == object else np.ones(len(labels), bool)
    f, y = np.asarray(features, np.float64)[keep], labels[keep]
    if len(np.unique(y)) < 2:
        raise ValueError("cosine separation needs at least 2 classes")
    sim = cosine_similarity(f)
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    within, between = float(sim[same & off].mean()), float(sim[~same].mean())
    return {"within": within, "between": between, "gap": within - between}


def embed_folder(model: SimCLRModel, folder: Path | str, ids: Sequence, batch_size: int = 512,
                 size: int | None = None) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Embed ``<folder>/<id>.jpg`` in batches through :mod:`raregal.core.images`; returns (ids read,
    features, drops with a reason per unread id).

    Images are read at ``size`` (default: the encoder's) and then resized to the encoder's size, so
    real galaxies can be seen at a generator's resolution, like the images it makes.
    """
    from raregal.core.images import iter_image_batches, to_tensor

    got_ids, feats, drops = [], [], []
    for batch in iter_image_batches(folder, ids, batch_size=batch_size,
                                    size=size or model.settings.image_size):
        drops.append(batch.drops)
        if len(batch.ids):
            got_ids.append(batch.ids)
            with warnings.catch_warnings():  # a size asked for explicitly: no per-batch warning
                warnings.filterwarnings("ignore", message="resizing")
                feats.append(embed(model, to_tensor(batch.images), batch_size=batch_size))
    if not feats:
        return np.zeros(0, np.int64), np.zeros((0, model.feature_dim), np.float32), pd.concat(drops)
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
