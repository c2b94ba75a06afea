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
# # 05 · Paper A: recovering Green Peas and Red Spirals from the latents (Fig. 2, §3 SVM)
#
# Makes:
# - `A-table-svm` (table; paper A §3): an RBF SVM (scaled γ) on all five latents, five trials of a
#   stratified 80/20 split of the validation galaxies plus the anomalies; SMOTE balances the classes on
#   the training part only (one imblearn Pipeline, so SMOTE never sees test rows). Per class: recovery
#   (mean ± std over trials) and contamination = fraction of *normal* test galaxies labelled as that
#   class, for the physics and vanilla CVAEs, the paper's values beside.
# - `A-fig2` (figure; paper A Fig. 2): top, projections of the vanilla latents; bottom, physics latents
#   log M*–log SFR, log SFR–latent 5, log M*–latent 5 with 2-D linear-SVM decision regions (after SMOTE).
# - the survey model bundle (`cvae/bundle/`, read by `python -m raregal.infer` and notebook 06): the physics
#   CVAE, 02's eq. 1 constants, 04's calibration and intervals, and the SVM of this notebook fitted once on
#   the whole sample with Platt probabilities (so the survey catalog gives P(Green Pea), P(Red Spiral)).

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
n_trials = None  # SVM trials; None: the profile's anomalies.n_trials (paper: 5)
test_size = 0.2  # test fraction of each stratified split (paper: 20 %)

# %%
import pandas as pd

from raregal.core import config, outputs
from raregal.paper_a import anomalies, figures, latents, preprocess
from raregal.paper_a.infer import from_run

cfg = config.setup(profile, source, seed,
                   overrides={"anomalies": {"n_trials": n_trials}} if n_trials is not None else None)
print(cfg.describe("anomalies"))

# %% [markdown]
# ## The combined sample: validation galaxies + Green Peas + Red Spirals

# %%
_, catalog = preprocess.load_processed(cfg, in_memory=False)
frame = latents.load_latents(cfg, catalog)
sample = frame[frame["split"].isin(["val", "anomaly"])].reset_index(drop=True)
labels = sample["class"].to_numpy()
print(sample["class"].value_counts().to_string())

# %% [markdown]
# ## SVM + SMOTE trials on all five latents, both models

# %%
models = {"physics CVAE": "physics", "vanilla CVAE": "vanilla"}
trials = {m: anomalies.svm_trials(sample[latents.latent_columns(name)].to_numpy(), labels,
                                  n_trials=cfg.anomalies.n_trials, test_size=test_size, seed=seed)
          for m, name in models.items()}
table = pd.concat([anomalies.svm_table_rows(t, m) for m, t in trials.items()], ignore_index=True)
outputs.save_table(table, "A-table-svm", cfg, caption=(
    f"Recovery of Red Spirals and Green Peas by an RBF SVM (SMOTE on the training part) on the five "
    f"latents, {cfg.anomalies.n_trials} stratified {100 * (1 - test_size):.0f}/{100 * test_size:.0f} "
    f"trials over the validation galaxies and anomalies of the {source} survey; contamination = % of normal "
    "test galaxies labelled as the class. Paper: 26k galaxies, 294 Red Spirals, 13 Green Peas."))
table[["method", "class", "quantity", "ours", "std", "paper", "n", "note"]].round(1)

# %% [markdown]
# ## Fig. 2: latent projections, vanilla (top) and physics-informed with 2-D linear SVM regions (bottom)

# %%
names = ["orientation", "z", "log M*", "log SFR", "morphology"]
fig = figures.figure_latent_projections(
    sample[latents.latent_columns("vanilla")].to_numpy(), sample[latents.latent_columns("physics")].to_numpy(),
    labels, van_pairs=[(0, 1), (2, 3), (1, 4)], phys_pairs=[(2, 3), (3, 4), (2, 4)], names_phys=names,
    seed=seed, title=f"Paper A Fig. 2 on the {source} survey: validation galaxies and anomalies in latent space")
outputs.save_figure(fig, "A-fig2", cfg, caption=(
    f"Latent projections of the validation galaxies, Green Peas and Red Spirals ({source} survey). Top: vanilla "
    "CVAE latents (no physics term). Bottom: physics-informed CVAE latents log M*-log SFR, log SFR-latent 5 and "
    "log M*-latent 5 with the decision regions of a 2-D linear SVM trained after SMOTE."))

# %% [markdown]
# ## The survey model bundle: this SVM on the physics latents of the whole sample, with 04's calibration

# %%
svm = from_run.fit_svm(sample[latents.latent_columns("physics")].to_numpy(), labels, seed=seed)
bundle_dir = from_run.save_run_bundle(cfg, svm)
print(f"model bundle for python -m raregal.infer: {bundle_dir}")
