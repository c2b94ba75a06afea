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
# # 07 · Paper B: vote fractions → well-sampled tags → prompts
#
# Makes:
# - `B-fig2` (figure; paper B Fig. 2): upset plot of the primary tags in the diffusion training set
# - `B-table-tags` (table): galaxies per tag among the well-sampled ones and after balancing
# - `B-gallery` (figure): random galaxies per tag, to check by eye that the labels are right
# - `data/processed/<source>-<profile>/gz2/tags.parquet` (contract in CONTRIBUTING.md)
#
# Ma et al. (2025) §3.1: a galaxy gets a tag for an answer when the vote-fraction thresholds of the
# tasks before it hold (Willett et al. 2013 Table 3), the task has ≥ 20 votes and the answer's
# debiased fraction is ≥ 0.8. Tags become prompt phrases (Table 1 style); "star or artifact" and
# "something odd" are dropped; each tag combination is capped (2,000 in the paper); known D-ETGs and
# early-type + dust-lane combinations are kept out of the diffusion training set (§3.2). The GZ2 tree
# and thresholds are data tables in `raregal.core.gz2_schema`, the tags and phrases in
# `raregal.paper_b.labels`.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
tag_cap = None  # galaxies kept per tag combination (None: profile value; paper 2000)
gallery_per_tag = None  # images per tag in the gallery (None: profile value)

# %%
import matplotlib.pyplot as plt
import pandas as pd

from raregal.core import config, gz2_schema, image_store, outputs
from raregal.paper_b import labels

overrides = {k: v for k, v in {"tag_cap": tag_cap, "gallery_per_tag": gallery_per_tag}.items()
             if v is not None}
cfg = config.setup(profile, source, seed, overrides={"labels": overrides})
print(cfg.describe("labels"))
gz2_dir = cfg.data_dir("interim", "gz2")
out_dir = cfg.data_dir("processed", "gz2")
label = "mock" if source == "mock" else "real"

# %% [markdown]
# ## Read and check the vote catalog
# Rows with missing columns stop the run with their names; rows with NaN or negative counts, bad
# fractions or duplicate ids, and rows whose image file is missing, unreadable or not a JPEG, are
# dropped and listed in `label_drops.csv` beside `tags.parquet`. The images are decoded here once, at
# the profile's size and field of view (`survey_b.fov_r90`: real GZ2 images span 8.48 R90 and are
# cropped to it), into the store every later notebook reads (`raregal.core.image_store`).

# %%
catalog, drops = gz2_schema.validate_catalog(gz2_schema.read_catalog(gz2_dir))
store = image_store.open_store(cfg)
no_image = store.unusable(catalog.dr7objid)  # no file, a corrupt file, or not a JPEG
catalog = catalog[~catalog.dr7objid.isin(no_image.id)].reset_index(drop=True)
drops = pd.concat([drops, no_image.rename(columns={"id": "dr7objid"})], ignore_index=True)
out_dir.mkdir(parents=True, exist_ok=True)
with outputs.atomic_path(out_dir / "label_drops.csv") as tmp:
    drops.to_csv(tmp, index=False)
print(f"{len(catalog):,} galaxies labelled; {len(drops)} dropped",
      drops.reason.value_counts().to_dict() if len(drops) else "")

# %% [markdown]
# ## Tags, prompts and the balanced diffusion training set

# %%
known_detg = gz2_schema.read_known_detg(gz2_dir)
print("known D-ETG catalog:", "none found" if known_detg is None else f"{len(known_detg)} galaxies")
table = labels.build_tag_table(catalog, cfg.labels.tag_cap, cfg.seed, known_detg)
with outputs.atomic_path(out_dir / gz2_schema.TAGS_FILE) as tmp:
    table.to_parquet(tmp, index=False)
print(f"well-sampled: {table.well_sampled.sum():,} ({table.well_sampled.mean():.1%}); "
      f"diffusion training set: {table.in_diffusion_train.sum():,}")
print(table.loc[table.in_diffusion_train, ["dr7objid", "prompt"]].head(8).to_string(index=False))

# %%
counts = labels.tag_counts(table)
outputs.save_table(counts, "B-table-tags", cfg,
                   caption=f"Galaxies per tag ({label} GZ2): well-sampled (≥ 20 votes, debiased ≥ 0.8, "
                           f"Willett 2013 thresholds) and after capping each tag combination at "
                           f"{cfg.labels.tag_cap} (paper: 2,000). The paper quotes one label's counts.")
counts.pivot_table(index=["kind", "tag"], columns="quantity", values="ours", sort=False)

# %% [markdown]
# ## Fig. 2: co-occurrence of the primary tags in the training set

# %%
fig = plt.figure(figsize=(11, 6.5))
labels.draw_upset(labels.upset_counts(table), fig, max_subsets=25,
                  title=f"Primary tags of the diffusion training set ({label} GZ2, "
                        f"{table.in_diffusion_train.sum():,} galaxies)")
outputs.save_figure(fig, "B-fig2", cfg,
                    caption=f"Upset plot of the primary tags (details such as bulge prominence and arm "
                            f"number left out, as in paper B Fig. 2) in the balanced {label} training "
                            "set: bars count galaxies with exactly that combination; right, galaxies per "
                            "tag.")
plt.show()

# %% [markdown]
# ## Gallery: do the images look like their tags?
# Random well-sampled galaxies per tag (row label = the tag's prompt phrase).

# %%
chosen = labels.gallery_ids(table, cfg.labels.gallery_per_tag, cfg.seed)
phrase = dict(zip(labels.TAGS.name, labels.TAGS.phrase))
ncol = cfg.labels.gallery_per_tag
fig_w, fig_h = 0.9 * ncol + 2.6, 0.9 * len(chosen) + 0.8  # square panels, room for the phrases
fig, axes = plt.subplots(len(chosen), ncol, figsize=(fig_w, fig_h), squeeze=False)
for row, (tag, ids) in enumerate(chosen.items()):
    batch = store.read(ids)
    for col in range(ncol):
        ax = axes[row, col]
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[:].set_visible(False)
        if col < len(batch.ids):
            ax.imshow(batch.images[col])
    axes[row, 0].set_ylabel(phrase[tag], rotation=0, ha="right", va="center", fontsize=7)
fig.suptitle(f"{label.capitalize()} GZ2 galaxies per well-sampled tag", y=1 - 0.1 / fig_h)
fig.subplots_adjust(left=2.6 / fig_w, right=0.99, top=1 - 0.45 / fig_h, bottom=0.35 / fig_h,
                    wspace=0.04, hspace=0.04)
outputs.save_figure(fig, "B-gallery", cfg,
                    caption=f"{ncol} random {label} galaxies per tag (well-sampled votes), "
                            f"{cfg.survey_b.image_size} px; for checking the labels by eye.")
plt.show()
