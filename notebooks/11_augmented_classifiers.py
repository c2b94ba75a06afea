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
# # 11 · Paper B: classifiers with synthetic augmentation (Table 2)
#
# Makes:
# - `B-table2` (table; paper B Table 2): purity, completeness and F1 of the positive class for four
#   binary morphology tasks — spiral, edge-on disk, bar, bulge — each with a fixed number of
#   negatives and positives at the paper's GZ2 fractions (0.43, 0.09, 0.10, 0.07); split 90/10 with
#   10 % of training held out to choose the threshold. Three arms: **baseline** (BCE), **focal**
#   (focal loss, α = 0.25, γ = 2) and **augmented** (BCE with synthetic positives from the
#   diffusion model fine-tuned in notebook 08). Mean ± std over seeds, paper values beside.
#
# Labels are the well-sampled volunteer tags of notebook 07 (as in the paper); negatives are
# well-sampled galaxies without the task's tag. The `classifiers` profile section says how the
# ResNet-18 is trained: `finetune` (whole network on images, paper) or `frozen` (the SimCLR trunk of
# notebook 09 frozen, a linear head per arm — the CPU profile's choice).

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed; the task splits use seed, seed+1, ...
tasks = "spiral,disk,bar,bulge"  # Table 2 tasks to run, comma-separated
n_negatives = None  # negatives per task (None: the profile's value; paper 10,000)
n_seeds = None  # repeats with different splits (None: the profile's value)

# %%
import pandas as pd

from raregal.core import config, gz2_schema, image_store, outputs
from raregal.paper_b import classifiers

overrides = {k: v for k, v in {"n_negatives": n_negatives, "n_seeds": n_seeds}.items() if v is not None}
cfg = config.setup(profile, source, seed, overrides={"classifiers": overrides})
print(cfg.describe("classifiers"))
c = cfg.classifiers
task_list = [t.strip() for t in tasks.split(",") if t.strip()]
seeds = list(range(cfg.seed, cfg.seed + c.n_seeds))
store = image_store.open_store(cfg)  # images at the profile's field of view, decoded once per size

# %% [markdown]
# ## Labels and the galaxies' inputs
# Every catalog galaxy is turned into the arms' inputs once (kept for notebook 12), from the image store
# (`raregal.core.image_store`: the profile's field of view, decoded once per size). Unreadable images
# are counted, not skipped silently. A task whose split cannot be drawn from this sample is reported as
# not run, its note naming `classifiers.n_negatives` and the sizes needed and found.

# %%
tags = pd.read_parquet(config.require(cfg.data_dir("processed", "gz2") / "tags.parquet",
                                      made_by="07_gz2_labels"))
feat = classifiers.featurizer_from_config(cfg)
views, ids_read, drops = feat.catalog(store, tags["dr7objid"],
                                      cache=cfg.data_dir("processed", "classifiers", "catalog_views.npz"))
labels = classifiers.task_labels(tags.set_index("dr7objid").loc[ids_read].reset_index(), task_list)
print(f"{feat.mode} inputs {views.shape}; {len(drops)} image(s) dropped (unreadable or missing)")
print(labels[labels.eligible][task_list].mean().round(3).rename("positive share among well-sampled"))
outputs.record("B-table2-image-drops", len(drops), cfg)

# %% [markdown]
# ## Synthetic positives
# One prompt per task built from the tag phrases of notebook 07 ("sdss, spiral galaxy", …), sampled
# from the fine-tuned pipeline of notebook 08 with the Euler-ancestral sampler (steps from the
# profile), each started from a noised real galaxy as in Ma et al. (2025) §2 (img2img). The starting
# galaxies have a majority vote for the feature but are not well-sampled, so they are in no split.
# Without a pipeline the augmented arm is reported as not run.

# %%
catalog = gz2_schema.read_catalog(cfg.data_dir("interim", "gz2"))
prompts = {t: classifiers.task_prompt(t) for t in task_list}
refs = {t: classifiers.reference_images(tags, catalog, store, t, seed=cfg.seed) for t in task_list}
syn_views, syn_images, syn_notes = classifiers.task_synthetic(cfg, feat, prompts, c.n_synthetic, refs)
for t, note in syn_notes.items():
    print(f"{t:7s} {note}")

# %% [markdown]
# ## Train and score: task × seed × arm

# %%
settings = classifiers.TrainSettings.from_profile(c, seed=cfg.seed)
per_seed = classifiers.run_table2(views, labels, settings, feat.make_model, c.n_negatives, seeds,
                                  synthetic=syn_views, augment=feat.augment, tasks=task_list,
                                  synthetic_notes=syn_notes, setting="classifiers.n_negatives")
table = classifiers.table2_summary(per_seed)
outputs.save_table(table, "B-table2", cfg,
                   caption=(f"Paper B Table 2 on the {cfg.source} survey: purity / completeness / F1 of "
                            f"the positive class, mean ± std over {len(seeds)} split(s); "
                            f"{c.n_negatives} negatives per task ({feat.mode} ResNet-18, "
                            f"{feat.image_size} px); paper: 10,000 negatives, real GZ2."))
table.pivot_table(index=["task", "method"], columns="quantity", values=["ours", "paper"]).round(2)
