"""ResNet-18 binary morphology classifiers, with a focal-loss variant and synthetic augmentation.

Paper B §4.2–4.3: one binary classifier per feature (spiral, edge-on disk, bar, bulge; D-ETG), BCE with
Adam (lr 1e-4) and standard augmentation (random crop, rotation, flip). Two alternatives to that
baseline: focal loss (Lin et al. 2017) for the class imbalance, and the paper's method — the same
classifier with extra *synthetic* positives from the fine-tuned diffusion model in its training set.
Scores are purity / completeness / F1 of the positive class, at a threshold chosen on the validation
split (never the test split).

Two ways to run the same experiment, a profile choice:

- ``finetune``: the whole network (``raregal.paper_b.backbone.build_resnet18``) is trained on images, with
  kornia augmentation applied per batch (paper setting).
- ``frozen``: a trained encoder (e.g. the SimCLR trunk of notebook 09) is frozen; each image is
  embedded as ``n_views`` kornia-augmented views once, and only the head is trained on those
  features. Orders of magnitude cheaper, so the many small classifiers fit the CPU budget.

Either way the data given to :func:`train_binary` / :func:`run_arms` are *views*: an array
``(V, N, ...)`` whose first view is the un-augmented input (used for validation, test and scoring)
and whose other views are augmented copies (all used for training).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

METHODS = ("baseline", "focal", "augmented")
QUANTITIES = ("purity", "completeness", "f1")

# Paper B Table 2 (positive fraction of each task in GZ2; purity, completeness, F1 per method).
PAPER_TABLE2 = pd.DataFrame(
    [(task, frac, method, q, v)
     for task, frac, rows in [
         ("spiral", 0.43, {"baseline": (0.67, 0.45, 0.54), "focal": (0.65, 0.36, 0.46),
                           "augmented": (0.69, 0.70, 0.70)}),
         ("disk", 0.09, {"baseline": (0.81, 0.52, 0.63), "focal": (0.80, 0.76, 0.78),
                         "augmented": (0.83, 0.77, 0.80)}),
         ("bar", 0.10, {"baseline": (0.59, 0.95, 0.73), "focal": (0.61, 0.85, 0.71),
                        "augmented": (0.67, 0.86, 0.75)}),
         ("bulge", 0.07, {"baseline": (0.30, 0.57, 0.40), "focal": (0.30, 0.72, 0.42),
                          "augmented": (0.32, 0.75, 0.44)}),
     ]
     for method, vals in rows.items() for q, v in zip(QUANTITIES, vals)],
    columns=["task", "positive_fraction", "method", "quantity", "paper"])

TABLE2_FRACTIONS = PAPER_TABLE2.drop_duplicates("task").set_index("task")["positive_fraction"].to_dict()


# ---------------------------------------------------------------------------------------------
# model, loss, augmentation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSettings:
    """One classifier's training: loss ``bce`` | ``focal`` (α, γ of Lin et al. 2017), Adam ``lr``."""

    loss: str = "bce"
    lr: float = 1e-4
    epochs: int = 5
    batch_size: int = 64
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    seed: int = 0

    def __post_init__(self):
        if self.loss not in ("bce", "focal"):
            raise ValueError(f"loss must be 'bce' or 'focal', got {self.loss!r}")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got {self}")


class BinaryClassifier(nn.Module):
    """``backbone`` (images → pooled features, or ``nn.Identity`` on precomputed features) + a linear
    head giving one logit. Inputs are standardised with the training set's mean and std (buffers)."""

    def __init__(self, backbone: nn.Module, feature_dim: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(int(feature_dim), 1)
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone((x - self.mean) / self.std)).squeeze(1)


def resnet_classifier(width: float, in_channels: int = 3,
                      build: Callable[..., nn.Module] | None = None) -> BinaryClassifier:
    """A fresh ResNet-18 (``raregal.paper_b.backbone.build_resnet18`` unless ``build`` is given) + head."""
    if build is None:
        from raregal.paper_b.backbone import build_resnet18 as build
    net = build(width=width)
    return BinaryClassifier(net, net.feature_dim)


def head_classifier(feature_dim: int) -> BinaryClassifier:
    """A linear head on frozen, precomputed features."""
    return BinaryClassifier(nn.Identity(), feature_dim)


def make_augment(image_size: int, crop_scale: tuple[float, float] = (0.8, 1.0)) -> nn.Module:
    """The paper's standard augmentation, batched: random resized crop, rotation by any angle
    (a galaxy has no preferred orientation), horizontal and vertical flips; colours untouched."""
    from raregal.paper_b.simclr import galaxy_augment

    return galaxy_augment(image_size, crop_scale, rotation_deg=180.0)


def loss_value(logits: torch.Tensor, target: torch.Tensor, settings: TrainSettings) -> torch.Tensor:
    if settings.loss == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    from kornia.losses import binary_focal_loss_with_logits

    return binary_focal_loss_with_logits(logits[:, None], target[:, None], alpha=settings.focal_alpha,
                                         gamma=settings.focal_gamma, reduction="mean")


# ---------------------------------------------------------------------------------------------
# training and scoring
# ---------------------------------------------------------------------------------------------
def _as_views(views: Any) -> torch.Tensor:
    v = torch.as_tensor(np.asarray(views) if not torch.is_tensor(views) else views).float()
    if v.ndim < 3:
        raise ValueError(f"views must be (V, N, ...) — a view axis first — got shape {tuple(v.shape)}")
    if v.numel() and not torch.isfinite(v).all():
        raise ValueError("views contain NaN/inf values")
    return v


def train_binary(model: BinaryClassifier, views: Any, labels: Any, settings: TrainSettings,
                 augment: nn.Module | None = None) -> dict[str, list[float]]:
    """Train ``model`` on every view of every sample (labels repeat across views); returns the loss
    per epoch. ``augment`` (kornia) is applied to each batch when given (``finetune`` mode)."""
    v = _as_views(views)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
    if v.shape[1] != len(y):
        raise ValueError(f"{v.shape[1]} samples but {len(y)} labels")
    if len(y) == 0 or y.min() == y.max():
        raise ValueError(f"training needs both classes; got {int(y.sum())} positives of {len(y)}")
    x = v.reshape(-1, *v.shape[2:])
    y = y.repeat(v.shape[0])
    with torch.no_grad():  # standardise with the training inputs (per channel for images)
        dims = [0, 2, 3] if x.ndim == 4 else [0]
        model.mean = x.mean(dim=dims, keepdim=True)[0]
        model.std = x.std(dim=dims, keepdim=True)[0].clamp_min(1e-6)
    gen = torch.Generator().manual_seed(settings.seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=settings.lr)
    history: dict[str, list[float]] = {"loss": []}
    model.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(y), generator=gen)
        total = 0.0
        for start in range(0, len(y), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            xb = x[idx]
            if augment is not None:
                xb = augment(xb)
            loss = loss_value(model(xb), y[idx], settings)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history["loss"].append(total / len(y))
    model.eval()
    return history


@torch.no_grad()
def predict_proba(model: BinaryClassifier, inputs: Any, batch_size: int = 512) -> np.ndarray:
    """P(positive) for un-augmented inputs (N, ...)."""
    x = torch.as_tensor(np.asarray(inputs) if not torch.is_tensor(inputs) else inputs).float()
    model.eval()
    out = [torch.sigmoid(model(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def choose_threshold(y_val: Any, p_val: Any) -> float:
    """The score threshold that maximises F1 on the validation split."""
    from sklearn.metrics import precision_recall_curve

    y_val, p_val = np.asarray(y_val, bool), np.asarray(p_val, float)
    if not y_val.any():
        raise ValueError("the validation split has no positives: cannot choose a threshold")
    prec, rec, thr = precision_recall_curve(y_val, p_val)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)[:-1]
    return float(thr[int(np.argmax(f1))])


def positive_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Purity (precision), completeness (recall) and F1 of the positive class (scikit-learn)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(np.asarray(y_true, bool), np.asarray(y_pred, bool),
                                                 average="binary", pos_label=True, zero_division=0)
    return {"purity": float(p), "completeness": float(r), "f1": float(f)}


# ---------------------------------------------------------------------------------------------
# experiments
# ---------------------------------------------------------------------------------------------
def n_positives_for(n_negatives: int, positive_fraction: float) -> int:
    """Positives that give ``positive_fraction`` of the whole set next to ``n_negatives``."""
    if not 0 < positive_fraction < 1:
        raise ValueError(f"positive_fraction must be in (0, 1), got {positive_fraction}")
    return int(round(n_negatives * positive_fraction / (1 - positive_fraction)))


def split_task(positive: Any, n_negatives: int, n_positives: int, seed: int,
               eligible: Any = None, test_fraction: float = 0.1,
               val_fraction: float = 0.1) -> dict[str, np.ndarray]:
    """Draw ``n_positives`` positives and ``n_negatives`` negatives (row indices), then split them
    stratified: ``test_fraction`` for test, ``val_fraction`` of the rest for validation (paper: 90/10,
    and 10 % of training for validation). ``eligible`` (bool) limits which rows may be drawn."""
    from sklearn.model_selection import train_test_split

    positive = np.asarray(positive, bool)
    ok = np.ones(len(positive), bool) if eligible is None else np.asarray(eligible, bool)
    pos_pool, neg_pool = np.flatnonzero(positive & ok), np.flatnonzero(~positive & ok)
    if len(pos_pool) < n_positives or len(neg_pool) < n_negatives:
        raise ValueError(f"not enough galaxies: need {n_positives} positives and {n_negatives} "
                         f"negatives, have {len(pos_pool)} and {len(neg_pool)} — lower n_negatives "
                         f"in the profile or make a larger survey")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(pos_pool, n_positives, replace=False),
                          rng.choice(neg_pool, n_negatives, replace=False)])
    y = positive[idx]
    n_test, n_val = round(n_positives * test_fraction), round(n_positives * (1 - test_fraction) * val_fraction)
    if min(n_test, n_val) < 1:
        raise ValueError(f"{n_positives} positives leave {n_test} for test and {n_val} for validation;"
                         f" need at least one each")
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction, stratify=positive[rest],
                                  random_state=seed + 1)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


@dataclass
class TrainedArm:
    """A trained classifier with its validation threshold."""

    model: BinaryClassifier
    threshold: float
    history: dict[str, list[float]]

    def predict(self, inputs: Any) -> np.ndarray:
        return predict_proba(self.model, inputs) >= self.threshold


def fit_arm(views: Any, labels: Any, split: dict[str, np.ndarray], settings: TrainSettings,
            make_model: Callable[[], BinaryClassifier], augment: nn.Module | None = None,
            synthetic_views: Any = None) -> TrainedArm:
    """Train on ``split['train']`` (+ synthetic positives, all views) and pick the threshold on
    ``split['val']`` (view 0)."""
    v = _as_views(views)
    labels = np.asarray(labels, bool)
    tr = split["train"]
    xv, yv = v[:, tr], labels[tr]
    if synthetic_views is not None:
        s = _as_views(synthetic_views)
        if s.shape[0] != v.shape[0] or s.shape[2:] != v.shape[2:]:
            raise ValueError(f"synthetic views {tuple(s.shape)} do not match the data views "
                             f"{tuple(v.shape)} (same view count and per-sample shape needed)")
        xv = torch.cat([xv, s], dim=1)
        yv = np.concatenate([yv, np.ones(s.shape[1], bool)])
    torch.manual_seed(settings.seed)
    model = make_model()
    hist = train_binary(model, xv, yv, settings, augment)
    thr = choose_threshold(labels[split["val"]], predict_proba(model, v[0, split["val"]]))
    return TrainedArm(model, thr, hist)


def run_arms(views: Any, labels: Any, split: dict[str, np.ndarray], settings: TrainSettings,
             make_model: Callable[[], BinaryClassifier], augment: nn.Module | None = None,
             synthetic_views: Any = None, methods: Sequence[str] = METHODS,
             missing_synthetic_note: str = "not run: no synthetic images") -> pd.DataFrame:
    """Baseline (BCE), focal and augmented (BCE + synthetic positives) on one split; test metrics in
    long format (``method, quantity, ours``). Without synthetic images the augmented arm is reported
    as not run (NaN with a note), never replaced by something else."""
    labels = np.asarray(labels, bool)
    v = _as_views(views)
    rows = []
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        if method == "augmented" and synthetic_views is None:
            rows += [{"method": method, "quantity": q, "ours": np.nan, "note": missing_synthetic_note}
                     for q in QUANTITIES]
            continue
        s = replace(settings, loss="focal" if method == "focal" else "bce")
        arm = fit_arm(v, labels, split, s, make_model, augment,
                      synthetic_views if method == "augmented" else None)
        m = positive_metrics(labels[split["test"]], arm.predict(v[0, split["test"]]))
        n_syn = 0 if method != "augmented" else int(np.shape(synthetic_views)[1])
        rows += [{"method": method, "quantity": q, "ours": m[q], "threshold": arm.threshold,
                  "n_train": len(split["train"]), "n_synthetic": n_syn,
                  "n_test_pos": int(labels[split["test"]].sum()), "note": ""} for q in QUANTITIES]
    return pd.DataFrame(rows)


def summarise_seeds(per_seed: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean ± std over seeds of ``ours`` per key; notes of not-run arms are kept."""
    g = per_seed.groupby(list(keys), sort=False)
    out = g["ours"].agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"mean": "ours", "count": "n"})
    out["n"] = g["ours"].count().values  # seeds that produced a number
    out["note"] = g["note"].agg(lambda s: "; ".join(sorted({x for x in s if x}))).values
    return out


@torch.no_grad()
def embed_views(images: Any, encode: Callable[[torch.Tensor], Any], n_views: int,
                augment: nn.Module | None = None, batch_size: int = 256, seed: int = 0) -> np.ndarray:
    """``(n_views, N, D)`` features: view 0 of the images as they are, the others augmented (kornia)
    — the ``frozen`` mode's stand-in for per-batch augmentation."""
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    if n_views > 1 and augment is None:
        raise ValueError("n_views > 1 needs an augmentation")
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).float()
    torch.manual_seed(seed)
    views = []
    for k in range(n_views):
        feats = []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            feats.append(np.asarray(encode(xb if k == 0 else augment(xb)), dtype=np.float32))
        views.append(np.concatenate(feats) if feats else np.zeros((0, 0), np.float32))
    return np.stack(views)


# ---------------------------------------------------------------------------------------------
# Table 2 on the GZ2 tags, and frozen-encoder views of a catalog
# ---------------------------------------------------------------------------------------------
# Which well-sampled tags (raregal.paper_b.labels) make a positive for each Table 2 task. "bulge" is an
# obvious or dominant central bulge (the tag pair whose share matches the paper's 0.07).
TABLE2_TAGS = {"spiral": ("spiral",), "disk": ("edge_on",), "bar": ("bar",),
               "bulge": ("bulge_obvious", "bulge_dominant")}


def task_prompt(task: str) -> str:
    """The generation prompt for a task's synthetic positives: "sdss, " + the tags' prompt phrases."""
    from raregal.paper_b.labels import TAGS

    phrase = dict(zip(TAGS.name, TAGS.phrase))
    return "sdss, " + ", ".join(phrase[t] for t in TABLE2_TAGS[task])


def task_labels(tags: pd.DataFrame, tasks: Sequence[str] = tuple(TABLE2_TAGS)) -> pd.DataFrame:
    """``dr7objid``, one bool column per task, and ``eligible`` (well-sampled galaxies: the paper's
    high-confidence set, whose galaxies without the tag are the negatives)."""
    need = ["dr7objid", "well_sampled"] + [f"tag_{t}" for task in tasks for t in TABLE2_TAGS[task]]
    missing = [c for c in need if c not in tags.columns]
    if missing:
        raise ValueError(f"tags table lacks columns {missing}; it is made by notebook 07_gz2_labels")
    out = pd.DataFrame({"dr7objid": tags["dr7objid"].to_numpy(np.int64)})
    for task in tasks:
        out[task] = np.logical_or.reduce([tags[f"tag_{t}"].to_numpy(bool) for t in TABLE2_TAGS[task]])
    out["eligible"] = tags["well_sampled"].to_numpy(bool)
    return out


def reference_images(tags: pd.DataFrame, catalog: pd.DataFrame, image_dir: Any, task: str,
                     n: int = 64, min_fraction: float = 0.7, seed: int = 0
                     ) -> tuple[np.ndarray | None, list]:
    """Real galaxies to start a task's synthetic positives from (img2img, seed 004 §2): volunteers'
    vote fraction for the task's answer(s) ≥ ``min_fraction`` but *not* well-sampled, so they are
    in no split of :func:`run_table2` and no test galaxy leaks into training through a reference."""
    from raregal.core.gz2_schema import column, stem_of
    from raregal.core.images import read_images
    from raregal.paper_b.labels import TAGS

    rows = TAGS.set_index("name").loc[list(TABLE2_TAGS[task])]
    frac = sum(catalog[column(stem_of(r.task, r.answer), "fraction")].to_numpy(float)
               for r in rows.itertuples())
    frac = pd.Series(frac, index=catalog["dr7objid"].to_numpy(np.int64))
    pool = tags.loc[~tags["well_sampled"].to_numpy(bool), "dr7objid"].to_numpy(np.int64)
    pool = pool[frac.reindex(pool).fillna(0).to_numpy() >= min_fraction]
    if len(pool) == 0:
        return None, []
    pick = np.random.default_rng(seed).choice(pool, min(n, len(pool)), replace=False)
    batch = read_images(image_dir, pick.tolist())
    return (batch.images, batch.ids.tolist()) if len(batch.ids) else (None, [])


def run_table2(views: Any, labels: pd.DataFrame, settings: TrainSettings,
               make_model: Callable[[], BinaryClassifier], n_negatives: int, seeds: Sequence[int],
               synthetic: dict[str, Any] | None = None, augment: nn.Module | None = None,
               tasks: Sequence[str] = tuple(TABLE2_TAGS), fractions: dict[str, float] = TABLE2_FRACTIONS,
               synthetic_notes: dict[str, str] | None = None) -> pd.DataFrame:
    """Every task × seed × method on ``views`` (row i ↔ ``labels`` row i): fixed ``n_negatives``,
    positives at the paper's fraction. A task whose split cannot be drawn is reported (NaN + note)."""
    v = _as_views(views)
    if v.shape[1] != len(labels):
        raise ValueError(f"{v.shape[1]} view rows but {len(labels)} label rows")
    rows = []
    for task in tasks:
        n_pos = n_positives_for(n_negatives, fractions[task])
        syn = (synthetic or {}).get(task)
        for seed in seeds:
            try:
                split = split_task(labels[task].to_numpy(bool), n_negatives, n_pos, seed,
                                   eligible=labels["eligible"].to_numpy(bool))
            except ValueError as err:
                rows.append(pd.DataFrame({"method": list(METHODS) * 3,
                                          "quantity": np.repeat(QUANTITIES, 3).tolist(),
                                          "ours": np.nan, "note": f"not run: {err}"}).assign(
                                              task=task, seed=seed))
                continue
            note = (synthetic_notes or {}).get(task, "not run: no synthetic images")
            df = run_arms(v, labels[task].to_numpy(bool), split, replace(settings, seed=seed),
                          make_model, augment, syn, missing_synthetic_note=note)
            rows.append(df.assign(task=task, seed=seed, n_positives=n_pos, n_negatives=n_negatives))
    return pd.concat(rows, ignore_index=True)


def with_paper(summary: pd.DataFrame, paper: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Put the published value beside ours (long format: keys, ours, paper, extras)."""
    out = summary.merge(paper, on=list(keys), how="left")
    front = [*keys, "ours", "paper"]
    return out[front + [c for c in out.columns if c not in front]]


def encoder_views(encoder: nn.Module, image_dir: Any, ids: Sequence[int], image_size: int,
                  n_views: int, seed: int = 0, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Frozen-encoder features of the catalog images, ``(n_views, N_read, D)``, view 0 plain and the
    others augmented; returns ``(views, ids_read, drops)`` — unreadable images are listed, not lost."""
    from raregal.core.images import iter_image_batches, to_tensor

    encoder.eval()
    augment = make_augment(image_size) if n_views > 1 else None
    parts, kept, drops = [], [], []
    for k, batch in enumerate(iter_image_batches(image_dir, list(ids), batch_size=batch_size,
                                                 size=image_size)):
        drops.append(batch.drops)
        if len(batch.ids) == 0:
            continue
        x = to_tensor(batch.images)
        parts.append(embed_views(x, lambda b: encoder(b).numpy(), n_views, augment,
                                 batch_size=256, seed=seed + k))
        kept.append(np.asarray(batch.ids, np.int64))
    if not parts:
        raise ValueError(f"no image of {len(ids)} could be read from {image_dir}")
    return np.concatenate(parts, axis=1), np.concatenate(kept), pd.concat(drops, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# what the notebooks use: one object that turns images into the arms' inputs, per profile
# ---------------------------------------------------------------------------------------------
@dataclass
class Featurizer:
    """Turns images into the *views* the arms train on, and builds the arms' models.

    ``frozen``: ``encoder`` (frozen) features of ``n_views`` views, a linear head per arm.
    ``finetune``: the images themselves (one view), a fresh ResNet-18 of ``width`` per arm, kornia
    augmentation per batch (:attr:`augment`).
    """

    mode: str
    image_size: int
    n_views: int = 1
    width: float | None = None
    encoder: nn.Module | None = None
    seed: int = 0

    def __post_init__(self):
        if self.mode not in ("frozen", "finetune"):
            raise ValueError(f"mode must be 'frozen' or 'finetune', got {self.mode!r}")
        if self.mode == "frozen" and self.encoder is None:
            raise ValueError("frozen mode needs a trained encoder (the SimCLR trunk of notebook 09)")
        if self.mode == "finetune" and (self.width is None or self.n_views != 1):
            raise ValueError("finetune mode needs a width and n_views=1 (it augments per batch)")

    @property
    def augment(self) -> nn.Module | None:
        return make_augment(self.image_size) if self.mode == "finetune" else None

    def make_model(self) -> BinaryClassifier:
        if self.mode == "frozen":
            return head_classifier(self.encoder.feature_dim)
        return resnet_classifier(self.width)

    def images(self, images: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) → views (resized to ``image_size``)."""
        from raregal.core.images import resize, to_tensor

        x = to_tensor(images)
        if x.shape[-1] != self.image_size:
            x = resize(x, self.image_size).clamp_(0, 1)
        if self.mode == "finetune":
            return x.numpy()[None]
        self.encoder.eval()
        return embed_views(x, lambda b: self.encoder(b).numpy(), self.n_views,
                           make_augment(self.image_size) if self.n_views > 1 else None, seed=self.seed)

    def catalog(self, image_dir: Any, ids: Sequence[int], cache: Any = None
                ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """Views of the catalog images ``(V, N_read, ...)``, the ids read, and the drop table; kept in
        ``cache`` (npz) for the next notebook when the ids and settings are the same."""
        import json
        from pathlib import Path

        key = json.dumps({"mode": self.mode, "size": self.image_size, "views": self.n_views,
                          "seed": self.seed, "n": len(ids), "ids_sum": int(np.sum(np.asarray(ids, np.int64) % 1000003)),
                          "encoder": sum(float(p.detach().double().sum()) for p in self.encoder.parameters())
                          if self.encoder is not None else None})
        if cache is not None and Path(cache).exists():
            with np.load(cache, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    drops = pd.DataFrame({"id": z["drop_id"], "reason": z["drop_reason"]})
                    return z["views"], z["ids"], drops
        if self.mode == "frozen":
            views, kept, drops = encoder_views(self.encoder, image_dir, ids, self.image_size,
                                               self.n_views, self.seed)
        else:
            from raregal.core.images import read_images

            batch = read_images(image_dir, list(ids), size=self.image_size)
            views, kept, drops = self.images(batch.images), np.asarray(batch.ids, np.int64), batch.drops
        if cache is not None:
            from raregal.core.outputs import atomic_path

            with atomic_path(Path(cache)) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, views=views, ids=kept, key=key,
                             drop_id=np.asarray(drops["id"].astype(str).tolist(), dtype=str),
                             drop_reason=np.asarray(drops["reason"].astype(str).tolist(), dtype=str))
        return views, kept, drops


def featurizer_from_config(cfg: Any) -> Featurizer:
    """The profile's featurizer: ``frozen`` loads the SimCLR trunk that notebook 09 trained."""
    c = cfg.classifiers
    if c.mode == "frozen":
        from raregal.core.config import require
        from raregal.paper_b.simclr import load_simclr

        model = load_simclr(require(cfg.data_dir("models", "simclr"), made_by="09_simclr"))
        size = c.image_size or model.settings.image_size
        if size != model.settings.image_size:
            raise ValueError(f"classifiers.image_size={size} but the SimCLR encoder was trained at "
                             f"{model.settings.image_size} px")
        for p in model.parameters():
            p.requires_grad_(False)
        return Featurizer("frozen", size, c.n_views, model.settings.width, model.encoder.eval(),
                          cfg.seed)
    return Featurizer("finetune", c.image_size, 1, c.width, None, cfg.seed)


def synthetic_images(model_dir: Any, prompt: str, n: int, out_dir: Any, steps: int, strength: float,
                     seed: int = 0, references: np.ndarray | None = None,
                     reference_ids: Sequence | None = None,
                     guidance: float | None = None) -> tuple[np.ndarray | None, str]:
    """``n`` images of ``prompt`` from the fine-tuned diffusion pipeline of notebook 08, cached in
    ``out_dir`` (PNG + metadata.csv); ``(None, reason)`` when there is no pipeline to ask — then the
    augmented arm is reported as not run, never filled with something else."""
    from pathlib import Path

    from raregal.paper_b.diffusion.generate import GUIDANCE

    guidance = GUIDANCE if guidance is None else float(guidance)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    meta_path = out_dir / "metadata.csv"
    pipeline = model_dir / "pipeline"
    stale = pipeline.exists() and pipeline.stat().st_mtime > (meta_path.stat().st_mtime
                                                               if meta_path.exists() else 0)
    if meta_path.exists() and not stale:  # made by this pipeline with these settings: reuse
        meta = pd.read_csv(meta_path)
        same = (len(meta) == n and (meta["prompt"] == prompt).all() and (meta["steps"] == steps).all()
                and "guidance" in meta and np.allclose(meta["guidance"], guidance)
                and meta["seed"].tolist() == list(range(seed, seed + n))
                and (meta["mode"] == ("img2img" if references is not None else "text2img")).all())
        if same and references is not None:  # the same starting galaxies, cycled as generate does
            ids_ = list(reference_ids) if reference_ids is not None else []
            same = bool(ids_) and meta["reference_id"].astype(str).tolist() == \
                [str(ids_[k % len(ids_)]) for k in range(n)]
        if same:
            from raregal.core.images import read_images

            batch = read_images(out_dir, [Path(f).stem for f in meta["file"]], ext=".png")
            if len(batch.drops) == 0:
                return batch.images, f"{n} cached synthetic images"
    try:
        from raregal.paper_b.diffusion.generate import generate_for_prompt
    except ImportError as err:  # the generator module is missing: say so
        return None, f"not run: diffusion generator unavailable ({err})"
    if not model_dir.exists():
        return None, f"not run: no fine-tuned diffusion pipeline at {model_dir} (run 08_finetune_diffusion)"
    try:
        images, _ = generate_for_prompt(model_dir, prompt, n, seed=seed, references=references,
                                        reference_ids=reference_ids, out_dir=out_dir, steps=steps,
                                        strength=strength, guidance=guidance, progress=False)
    except FileNotFoundError as err:  # e.g. the fine-tune has checkpoints but no final pipeline yet
        return None, f"not run: {err}"
    return images, f"{n} synthetic images generated"


def task_synthetic(cfg: Any, featurizer: Featurizer, prompts: dict[str, str], n: int,
                   references: dict[str, tuple[np.ndarray, Sequence]] | None = None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, str]]:
    """Synthetic positives per task (name → prompt) from notebook 08's pipeline, as views.

    Returns ``(views, images, notes)``; a task without images is absent from ``views`` and its note
    says why. ``references`` (name → (uint8 images, ids)) makes img2img starts (seed 004 §2)."""
    c = cfg.classifiers
    views, images, notes = {}, {}, {}
    for name, prompt in prompts.items():
        ref, ref_ids = (references or {}).get(name, (None, None))
        imgs, note = synthetic_images(cfg.data_dir("models", "diffusion"), prompt, n,
                                      cfg.data_dir("processed", "synthetic", name), c.synthetic_steps,
                                      c.synthetic_strength, seed=cfg.seed, references=ref,
                                      reference_ids=ref_ids, guidance=cfg.diffusion.guidance)
        notes[name] = f"{note} · prompt {prompt!r}"
        if imgs is not None:
            images[name] = imgs
            views[name] = featurizer.images(imgs)
    return views, images, notes
