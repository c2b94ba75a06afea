# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: rare-galaxies
#     language: python
#     name: raregal
# ---

# %% [markdown]
# # 09 · Paper B: SimCLR galaxy embedding
#
# Makes:
# - `B-figA1` (figure; paper B Fig. A1): contrastive loss and top-1 per epoch
# - `B-figA2` (figure; paper B Fig. A2): t-SNE of the embeddings coloured by morphology
# - `B-table-simclr` (table): linear-probe accuracy of the embedding on the main morphology labels
# - `data/models/<source>-<profile>/simclr/` (`simclr.pt`, `last_state/`, `history.csv`, `embeddings.npz`), read by
#   notebooks 10 (realism, diversity, consistency) and 11 (frozen-feature classifiers)
#
# Paper B Appendix A: a ResNet-18 encoder trained with SimCLR (NT-Xent, τ = 0.5, Adam lr 1e-3,
# batch 256, 200 epochs, ImageNet initialisation) on GZ2 images, with random crops, flips and colour
# jitter (we add rotation by any angle: a galaxy has no preferred orientation). The default profile
# keeps the topology and shrinks width, image size, sample and epochs (printed below). Nothing can be
# downloaded, so in place of ImageNet weights (learned by supervised classification) it starts from
# `models/gz2-morphology-48`: the same trunk trained to classify a mock survey of its own by its volunteer
# morphology tags, D-ETGs left out (`python -m raregal.pretrain morphology`), fine-tuned at lr 1e-4 so the
# few epochs here do not wash it out. The embedding f_φ is the pooled trunk output.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
epochs = None  # SimCLR epochs (None: profile value; paper 200)
n_train = None  # galaxies SimCLR trains on (None: profile value; paper: all)
width = None  # ResNet-18 channel multiplier (None: profile value; paper 1.0)
n_floor_draws = 5  # untrained encoders (init seeds seed, seed+1, ...) whose probe gives the floor
resume = True  # continue from last_state/ when it exists (settings must match; False: train afresh)
torch_threads = None  # CPU threads for torch (None: torch's default; 1 on a shared, busy machine)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from raregal.core import config, gz2_schema, image_store, images, model_card, outputs
from raregal.paper_b import simclr

if torch_threads:
    torch.set_num_threads(torch_threads)

overrides = {k: v for k, v in {"epochs": epochs, "n_train": n_train, "width": width}.items()
             if v is not None}
cfg = config.setup(profile, source, seed, overrides={"simclr": overrides})
print(cfg.describe("simclr"))
sc = cfg.simclr
store = image_store.open_store(cfg)  # images at the profile's field of view, decoded once per size
model_dir = cfg.data_dir("models", "simclr")
label = "mock" if source == "mock" else "real"
t_start = time.perf_counter()

# %% [markdown]
# ## Training images
# SimCLR needs no labels: a random sample of all catalogued galaxies (well-sampled or not), leaving
# enough well-sampled galaxies unseen for the probe and Fig. A2 (a sample not much larger than
# `simclr.n_train` keeps some out first, and says so). Files that cannot be read are counted and
# listed, never skipped silently.

# %%
tags = pd.read_parquet(config.require(cfg.data_dir("processed", "gz2") / gz2_schema.TAGS_FILE,
                                      made_by="07_gz2_labels"))
rng = np.random.default_rng(cfg.seed)
train_ids, scaled = simclr.training_sample(tags.dr7objid.to_numpy(), tags.well_sampled.to_numpy(), sc.n_train,
                                           rng)
print(scaled or f"SimCLR sample: {len(train_ids):,} of {len(tags):,} galaxies")
batch = store.read(train_ids, size=sc.image_size)
print(f"{len(batch.ids):,} training images at {sc.image_size} px; {len(batch.drops)} unreadable",
      batch.drops.reason.value_counts().to_dict() if len(batch.drops) else "")

# %% [markdown]
# ## Train (resumes a checkpoint with the same settings)

# %%
settings = simclr.SimCLRSettings(image_size=sc.image_size, width=sc.width, batch_size=sc.batch_size,
                                 epochs=sc.epochs, lr=sc.lr, pretrained=sc.pretrained, seed=cfg.seed)
t0 = time.perf_counter()
history = simclr.train_simclr(images.to_tensor(batch.images), model_dir, settings, resume=resume)
train_s = time.perf_counter() - t0
print(f"trained in {train_s:.0f} s ({history.seconds.sum():.0f} s of epochs this and earlier runs)")
model = simclr.load_simclr(model_dir)
base_line = model_card.describe(sc.pretrained, config.repo_root())
outputs.record("B-simclr-base", base_line, cfg)
print("base:", base_line)
print(f"encoder: ResNet-18 × {sc.width} width, {model.feature_dim}-d features, "
      f"{sum(p.numel() for p in model.encoder.parameters()):,} parameters")

# %% [markdown]
# ## Fig. A1: contrastive loss and top-1 per epoch
# Top-1: the fraction of augmented views whose partner view is the most similar of the other 2N−1
# views in the batch (chance ≈ 1/(2N−1) ≈ 0.002 at batch 256); "validation" = held-out galaxies
# with fixed augmentations, the network in eval mode (batch-norm running statistics).

# %%
fig, (ax_l, ax_t) = plt.subplots(1, 2, figsize=(9, 3.4))
for split, style in (("train", "-o"), ("val", "--s")):
    ax_l.plot(history.epoch, history[f"{split}_loss"], style, ms=3, label=split)
    ax_t.plot(history.epoch, history[f"{split}_top1"], style, ms=3, label=split)
ax_l.set(xlabel="epoch", ylabel="NT-Xent loss (τ = 0.5)", title="contrastive loss")
ax_t.set(xlabel="epoch", ylabel="top-1", title="positive pair ranked first")
ax_l.legend()
fig.suptitle(f"SimCLR on {label} GZ2 images ({len(batch.ids):,} galaxies, {sc.image_size} px, "
             f"width × {sc.width}, batch {sc.batch_size})", fontsize=10)
fig.tight_layout()
outputs.save_figure(fig, "B-figA1", cfg,
                    caption=f"SimCLR loss and top-1 accuracy per epoch on the {label} GZ2 images "
                            f"(paper B Fig. A1; profile {profile}: {sc.epochs} epochs of the paper's 200).")
plt.show()

# %% [markdown]
# ## Embed the labelled galaxies
# Every well-sampled galaxy is embedded once; notebooks 10 and 11 read `embeddings.npz`.

# %%
labelled = tags[tags.well_sampled].reset_index(drop=True)
ids, feats, drops = simclr.embed_stored(model, store, labelled.dr7objid.to_numpy())
simclr.save_embeddings(model_dir / simclr.EMBEDDINGS, ids, feats)
print(f"embedded {len(ids):,} well-sampled galaxies; {len(drops)} unreadable")
labelled = labelled.set_index("dr7objid").loc[ids].reset_index()
held_out = ~np.isin(ids, train_ids)  # galaxies SimCLR never saw, for the probe and the t-SNE
print(f"{held_out.sum():,} of them were not in the SimCLR training sample")

# %% [markdown]
# ## Linear probe
# A logistic regression on the frozen features (70/30 split, balanced class weights) for the
# morphology class and the main binary labels, beside the same probe on an encoder of the same shape
# with random weights: the difference is what the base and SimCLR learned. On the mock the morphology
# classes are those the base was trained on, in another survey's galaxies. Realism and diversity are cosine
# similarities, so the table also gives the cosine gap: mean cosine within a class minus between
# classes (an untrained network puts every galaxy at nearly the same direction).

# %%
random_encoder = simclr.untrained_encoder(simclr.SimCLRSettings(
    image_size=sc.image_size, width=sc.width, seed=cfg.seed))
probe_ids = ids[held_out]
_, random_feats, _ = simclr.embed_stored(random_encoder, store, probe_ids)
probe = simclr.probe_table({"SimCLR": feats[held_out], "random init": random_feats},
                           simclr.probe_labels(labelled[held_out]), seed=cfg.seed)
floor_settings = simclr.SimCLRSettings(image_size=sc.image_size, width=sc.width, seed=cfg.seed)
morph_probe = simclr.probe_labels(labelled[held_out])["morphology class"]
floor = simclr.untrained_floor(floor_settings, store, probe_ids, morph_probe, n_floor_draws, cfg.seed)
probe = pd.concat([probe, pd.DataFrame([{
    "task": "morphology class", "encoder": f"random init, {n_floor_draws} draws", "quantity": "balanced accuracy",
    "ours": float(floor.mean()), "paper": np.nan, "n": int((morph_probe != "").sum()),
    "note": f"sd {floor.std(ddof=1) if len(floor) > 1 else 0:.3f} over init seeds {cfg.seed}–"
            f"{cfg.seed + n_floor_draws - 1}: " + ", ".join(f"{v:.3f}" for v in floor)}])],
                  ignore_index=True)
print(f"untrained floor (9-class balanced accuracy): {floor.mean():.3f} ± {floor.std():.3f} "
      f"over {n_floor_draws} init draws; seed {cfg.seed} alone {floor[0]:.3f}")
outputs.save_table(probe, "B-table-simclr", cfg,
                   caption=f"Held-out linear-probe accuracy, and cosine gap (mean cosine within a class "
                           f"minus between classes), of the SimCLR embedding of {label} GZ2 galaxies "
                           f"not used for SimCLR training, vs a random-init encoder of the same shape. "
                           f"Paper B reports no probe number.")
probe.pivot_table(index=["task", "quantity"], columns="encoder", values="ours", sort=False).round(3)

# %% [markdown]
# ## Fig. A2: t-SNE of the embedding, coloured by morphology

# %%
morph = simclr.morphology_class(labelled[held_out])
pick = np.flatnonzero(morph != "")
pick = np.sort(rng.choice(pick, min(sc.n_tsne, len(pick)), replace=False))
xy = simclr.tsne_2d(feats[held_out][pick], seed=cfg.seed)
fig, ax = plt.subplots(figsize=(8.5, 6))
for name in simclr.MORPHOLOGY_ORDER[::-1]:
    sel = morph[pick] == name
    if sel.any():
        ax.scatter(*xy[sel].T, s=6 if sel.sum() > 50 else 16, alpha=0.75,
                   label=f"{name.replace('_', ' ')} ({sel.sum()})")
ax.set(xticks=[], yticks=[], title=f"t-SNE of SimCLR features, {len(pick):,} {label} GZ2 galaxies")
ax.legend(fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.01, 1), title="first tag")
outputs.save_figure(fig, "B-figA2", cfg,
                    caption=f"t-SNE (scikit-learn) of the SimCLR embedding of {label} GZ2 galaxies not "
                            "used in training, coloured by their first tag among merger, ring, dust "
                            "lane, edge-on, bar, spiral, cigar, in-between and completely round "
                            "(paper B Fig. A2).")
plt.show()
print(f"notebook time {time.perf_counter() - t_start:.0f} s")
