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
# # 10 · Paper B: realism, diversity and consistency
#
# Makes:
# - `B-fig4` (figure; paper B Fig. 4): realism, diversity and consistency vs fine-tune step, with the
#   ceiling (held-out real galaxies) and floors (shuffled prompts, pixel-shuffled noise)
# - `B-fig5` (figure; paper B Fig. 5): realism vs diversity per prompt, Pareto fronts per prompt type
# - `B-table-metrics` (table; paper B §4.1): R, D, C per Table 1 prompt at the last step, the
#   reference points beside, and each visual-question classifier's held-out accuracy
# - `data/processed/<source>-<profile>/gen_metrics/`: `step-<k>/` per checkpoint (the generated images,
#   their scores per prompt, the inputs that made them) and `per_condition.parquet` (every score,
#   reference points included), which the figures and the table are drawn from
#
# Ma et al. (2025) §4.1, per condition p (a Table 1 prompt) on SimCLR embeddings f_φ (notebook 09):
# realism R^p = mean over generated images of the highest cosine similarity to a real image of p
# (eq. 1); diversity D^p = mean cosine similarity over all real × generated pairs (eq. 3; lower = more
# varied); consistency C^p = mean share of 11 binary visual-question classifiers answering as the
# prompt implies (eq. 5); R, D, C average over the prompts (eq. 2, 4, 6). f_φ for eq. 1 and 3 is the
# SimCLR projection (where NT-Xent took its cosine) whitened on the real reference galaxies, so flux
# and colour, which dominate the raw embedding and survive pixel shuffling, do not decide realism
# alone. Our classifiers are logistic heads on the frozen SimCLR trunk features, trained on real (mock)
# galaxies' well-sampled tags; a question the prompt does not name counts as "no", and within an image
# the "yes" and "no" questions weigh alike (else answering "no" to all scores 8/11 or more). Images are
# text-to-image samples (no reference image) from each checkpoint of notebook 08 and from the base
# model before fine-tuning (step 0).

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
n_per_prompt = None  # generated images per prompt and checkpoint (None: profile value)
inference_steps = None  # sampler steps per image (None: profile value; paper 40)
torch_threads = None  # CPU threads for torch (None: torch's default; 1 on a shared, busy machine)

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from raregal.core import config, gz2_schema, image_store, outputs
from raregal.paper_b import checkpoint_metrics, gen_metrics, simclr
from raregal.paper_b.diffusion import prompts as diffusion_prompts

if torch_threads:
    torch.set_num_threads(torch_threads)
overrides = {k: v for k, v in {"n_per_prompt": n_per_prompt, "inference_steps": inference_steps}.items()
             if v is not None}
cfg = config.setup(profile, source, seed, overrides={"metrics": overrides})
print(cfg.describe("metrics", "simclr", "diffusion"))
mc = cfg.metrics
store = image_store.open_store(cfg)  # images at the profile's field of view, decoded once per size
simclr_dir = cfg.data_dir("models", "simclr")
diffusion_dir = cfg.data_dir("models", "diffusion")
label = "mock" if source == "mock" else "real"
t_start = time.perf_counter()

# %% [markdown]
# ## Real galaxies per condition
# Every well-sampled galaxy is embedded with the SimCLR encoder of notebook 09 after being brought to
# the generator's resolution, so real and generated images lose the same detail. A real galaxy
# belongs to a prompt's condition when it carries every tag the prompt names. A random
# `holdout_fraction` of them is kept aside to play "generated" for the ceiling.

# %%
tags = pd.read_parquet(config.require(cfg.data_dir("processed", "gz2") / gz2_schema.TAGS_FILE,
                                      made_by="07_gz2_labels"))
model = simclr.load_simclr(simclr_dir)
gen_size = cfg.diffusion.resolution  # real galaxies are seen at the generator's resolution too
ids, feats, drops = simclr.embed_stored(model, store, tags.dr7objid[tags.well_sampled].to_numpy(),
                                       size=gen_size)
print(f"{len(ids):,} well-sampled galaxies embedded at {gen_size} px (→ {model.settings.image_size} px "
      f"encoder); {len(drops)} unreadable")
labelled = tags.set_index("dr7objid").loc[ids].reset_index()
table1 = diffusion_prompts.table1_prompts(tags)
condition_tags = {r.letter: r.tags.split("|") for r in table1.itertuples()}
prompt_of = dict(zip(table1.letter, table1.ours))
member = gen_metrics.condition_members(labelled, condition_tags)
ref, held = gen_metrics.split_reference(member, mc.holdout_fraction, seed=cfg.seed)
counts = pd.DataFrame({"prompt": table1.set_index("letter").ours,
                       "type": [gen_metrics.prompt_type(t) for t in condition_tags.values()],
                       "n_reference": member[ref].sum(), "n_held_out": member[held].sum()})
print(counts.to_string())
scorable = [c for c in member.columns if member.loc[ref, c].any()]
empty = [c for c in member.columns if c not in scorable]
print("conditions with no real galaxy (reported and skipped):",
      ", ".join(f"{c} ({prompt_of[c]})" for c in empty) or "none")

# %% [markdown]
# ## The 11 visual-question classifiers and the whitened space
# Both are fitted on the reference galaxies only. The classifiers: 70/30 split inside for the
# held-out accuracy; a question with too few examples of its rarer answer is not fitted and not asked
# (named below). The space of eq. 1 and 3: the reference galaxies' SimCLR projections, centred and
# scaled to unit variance along each principal direction that matters.

# %%
truth = gen_metrics.tag_answers(labelled.loc[ref, "tags"].fillna("").str.split("|"))
scorer = checkpoint_metrics.Scorer.fit(model, feats[ref], member[ref], truth,
                                       gen_metrics.expected_answers(condition_tags),
                                       min_positives=mc.min_positives, seed=cfg.seed)
qc = scorer.classifiers
print(scorer.space.describe())
print(qc.report.round(3).to_string(index=False))

# %% [markdown]
# ## Reference points
# Ceiling: held-out real galaxies scored as if generated for each condition they belong to. Floors:
# the same galaxies scored against a wrong condition (shuffled prompts), and the same images with
# their pixels shuffled (colours kept, morphology destroyed).

# %%
rows, held_cond = gen_metrics.as_generated(member[held], mc.max_real_per_condition, seed=cfg.seed)
held_emb = scorer.metric_embedding(feats[held][rows])
held_answers = qc.predict(feats[held][rows])
batch = store.read(ids[held][rows], size=gen_size)
noise_emb, noise_answers = scorer.embed(gen_metrics.pixel_shuffle(batch.images.transpose(0, 3, 1, 2),
                                                                  seed=cfg.seed))
noise_cond = held_cond[np.isin(ids[held][rows], batch.ids)]
print(f"{len(rows):,} held-out (galaxy, condition) pairs; {len(batch.drops)} images unreadable for the "
      "noise floor")
reference_sets = {
    "ceiling: held-out real": (held_emb, held_cond, held_answers),
    "floor: shuffled prompts": (held_emb, gen_metrics.shuffle_conditions(held_cond, seed=cfg.seed),
                                held_answers),
    "floor: pixel-shuffled noise": (noise_emb, noise_cond, noise_answers),
}
scores, skips = [], []
for method, (f, c, a) in reference_sets.items():
    per, skipped = scorer.score_features(method, f, c, a)
    scores.append(per.assign(step=np.nan))
    skips.append(skipped)
pd.concat(scores).groupby("method", sort=False)[["realism", "diversity", "consistency"]].mean().round(3)

# %% [markdown]
# ## Generated images at every checkpoint
# The same seeds at every step, `n_per_prompt` per prompt that has real galaxies. Each step's images
# and scores are saved in `gen_metrics/step-<k>/` with the inputs that made them: a rerun with the same
# checkpoint files and settings reads them instead of generating (a retrained SimCLR encoder or new
# question heads rescore the saved images), so restyling a figure below regenerates no image.

# %%
steps = checkpoint_metrics.fine_tune_steps(diffusion_dir)
print("steps:", steps)
settings = checkpoint_metrics.GenerationSettings({c: prompt_of[c] for c in scorable}, mc.n_per_prompt,
                                                 mc.inference_steps, seed=cfg.seed, batch_size=mc.batch_size,
                                                 guidance=cfg.diffusion.guidance)
out_dir = cfg.data_dir("processed", "gen_metrics")
per_step, skipped_steps, gen_s = checkpoint_metrics.score_checkpoints(diffusion_dir, steps, settings, scorer,
                                                                      out_dir)
metrics = pd.concat([*scores, per_step], ignore_index=True)
metrics["type"] = metrics.condition.map(lambda c: gen_metrics.prompt_type(condition_tags[c]))
with outputs.atomic_path(out_dir / "per_condition.parquet") as tmp:
    metrics.to_parquet(tmp, index=False)
skipped_all = pd.concat([*skips, skipped_steps], ignore_index=True)
print("skipped (method, condition, reason):")
print(skipped_all.to_string(index=False) if len(skipped_all) else "  none")

# %% [markdown]
# ## Fig. 4: the metrics along the fine-tune

# %%
metrics = pd.read_parquet(out_dir / "per_condition.parquet")  # figures and table: from the saved scores
common = gen_metrics.common_conditions(metrics)
print(f"eq. 2/4/6 means use the {len(common)} prompts every method could score: {', '.join(common)}")
model_rows = metrics[metrics.step.notna()]
in_common = metrics[metrics.condition.isin(common)]
mean_by_step = in_common[in_common.step.notna()].groupby("step")[
    ["realism", "diversity", "consistency"]].mean()
ref_means = in_common[in_common.step.isna()].groupby("method", sort=False)[
    ["realism", "diversity", "consistency"]].mean()
styles = {"ceiling: held-out real": ("tab:green", "--"), "floor: shuffled prompts": ("tab:red", ":"),
          "floor: pixel-shuffled noise": ("0.4", "-.")}
fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), gridspec_kw={"height_ratios": [1, 1.1]})
for ax, m in zip(axes[0], ("realism", "diversity", "consistency")):
    ax.plot(mean_by_step.index, mean_by_step[m], "-o", color="k",
            label=f"model (mean of {len(common)} prompts)")
    for method, (color, ls) in styles.items():
        ax.axhline(ref_means.loc[method, m], color=color, ls=ls, label=method)
    ax.set(xlabel="fine-tune step", title=m + (" (lower = more varied)" if m == "diversity" else ""))
axes[0, 0].legend(fontsize=7)
for ax, m in zip(axes[1], ("realism", "diversity", "consistency")):
    for c, grp in model_rows.groupby("condition"):
        ax.plot(grp.step, grp[m], "-", lw=1, alpha=0.8, label=c)
    ax.set(xlabel="fine-tune step", ylabel=f"{m} per prompt")
axes[1, 2].legend(fontsize=6, ncol=2, title="Table 1 prompt", title_fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.02, 1))
fig.suptitle(f"Generated vs real {label} GZ2 galaxies on whitened SimCLR projections ({mc.n_per_prompt} images per "
             f"prompt and step, {mc.inference_steps} sampler steps)", fontsize=10)
fig.tight_layout()
outputs.save_figure(fig, "B-fig4", cfg,
                    caption=f"Realism, diversity and consistency (paper B eq. 1–6) of text-to-image "
                            f"samples vs fine-tune step (step 0 = base model), on the {label} survey; "
                            "lines: held-out real galaxies (ceiling), shuffled prompts and "
                            "pixel-shuffled images (floors). Bottom: each Table 1 prompt.")
plt.show()

# %% [markdown]
# ## Fig. 5: realism vs diversity per prompt, Pareto fronts per prompt type
# Each point is one prompt at one fine-tuned checkpoint (the base model, step 0, is left out); a
# front joins the points of a type that no other point of the type beats on both higher realism and
# lower diversity value.

# %%
fig, ax = plt.subplots(figsize=(7, 5.5))
for (ptype, grp), color in zip(model_rows[model_rows.step > 0].groupby("type"), plt.cm.tab10.colors):
    ax.scatter(grp.diversity, grp.realism, s=12 + 30 * grp.step / metrics.step.max(), color=color, alpha=0.7,
               label=ptype)
    front = grp.iloc[gen_metrics.pareto_front(grp.realism, grp.diversity)]
    ax.plot(front.diversity, front.realism, "--", color=color, lw=1.2)
ceiling = metrics[metrics.method == "ceiling: held-out real"]
ax.scatter(ceiling.diversity, ceiling.realism, marker="*", s=50, color="k", label="held-out real (ceiling)")
ax.set(xlabel="diversity $D^p$ (lower = more varied)", ylabel="realism $R^p$",
       title=f"Realism vs diversity per prompt ({label} GZ2; marker size grows with step)")
ax.legend(fontsize=8)
outputs.save_figure(fig, "B-fig5", cfg,
                    caption=f"Realism vs diversity of each Table 1 prompt at each fine-tune checkpoint, "
                            f"coloured by prompt type, dashed Pareto fronts per type (paper B Fig. 5); "
                            f"stars: held-out real galaxies of each prompt ({label} survey).")
plt.show()

# %% [markdown]
# ## Table: last step beside the reference points, and the classifiers' own accuracy

# %%
last = metrics[(metrics.step == steps[-1]) | metrics.step.isna()]
table = gen_metrics.long_metrics(last, keys=("method",), mean_over=common)
acc = qc.report.assign(method="visual-question classifier", condition=qc.report.question,
                       quantity="held-out accuracy", ours=qc.report.get("accuracy"), paper=np.nan,
                       n=qc.report.get("n_test"),
                       note=qc.report.status + ", balanced accuracy " + qc.report.get(
                           "balanced_accuracy", pd.Series(np.nan, index=qc.report.index)
                       ).round(3).astype(str))
table = pd.concat([table, acc[["method", "condition", "quantity", "ours", "paper", "n", "note"]]],
                  ignore_index=True)
outputs.save_table(table, "B-table-metrics", cfg,
                   caption=f"Realism, diversity (lower = more varied) and consistency per Table 1 prompt "
                           f"at step {steps[-1]} ({mc.n_per_prompt} images per prompt) beside held-out "
                           f"real galaxies (ceiling) and two floors; 'all' = eq. 2/4/6 mean. Paper B "
                           f"shows these only as curves (no numbers). Last rows: each visual-question "
                           f"classifier's held-out accuracy ({label} survey).")
outputs.record("B-gen-seconds", round(sum(gen_s.values()), 1), cfg, unit="s")
print(f"notebook time {time.perf_counter() - t_start:.0f} s")
table[table.condition == "all"].pivot_table(index="method", columns="quantity", values="ours",
                                            sort=False).round(3)
