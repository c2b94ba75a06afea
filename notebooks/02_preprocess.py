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
# # 02 · Paper A preprocessing: eq. 1 normalisation, resizing, orientations
#
# Makes:
# - `A-orientation-examples` (figure; paper A §2 orientation measurement)
# - `A-drops` (table; paper A §2 "we remove five galaxies that are missing images in at least one filter")
#
# Paper A §2: each band is normalised with eq. 1, x_b = tanh(asinh(β x_b / ⟨max x_b⟩)), β = 10, and the
# cutouts are interpolated to 69×69 px; the orientation of the galaxy nearest the image centre is
# measured with photutils on the grz stack; the data are split 80 % train / 20 % validation and the
# Green Peas and Red Spirals are added for evaluation.
#
# Choices made here (see `raregal.paper_a.preprocess` and `raregal.paper_a.orientation`):
# - ⟨max x_b⟩ is the mean over the **training** galaxies of each cutout's band maximum, saved in
#   `norm.json` and reused for validation and anomalies.
# - Split: normal galaxies 80/20 with the authors' fixed seed 12345; Green Peas and Red Spirals get
#   `split = "anomaly"`.
# - Orientation: photutils at ≈60 ms/galaxy would take minutes on the default survey, so every galaxy
#   is measured with the batched fast path (same recipe as arrays) and a seeded subset of
#   `n_photutils_check` galaxies also with photutils; their periodic RMS difference on resolved
#   galaxies is reported below (`benchmarks/orientation.py` has the speed/accuracy figures). The
#   `paper` profile uses photutils for every galaxy. Uncertainty 0.1 rad, as the paper assumes.
# - Bad cutouts (missing band, NaN, all-zero, saturated star, wrong shape, no source within 10 px
#   of the centre) are dropped and counted in `A-drops`; the run stops if more than
#   `max_drop_fraction` is dropped.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
n_photutils_check = None  # galaxies also measured with photutils (None: profile value)
n_examples = 12  # galaxies in the A-orientation-examples figure

# %%
from raregal.core import config, outputs
from raregal.paper_a import figures, orientation, preprocess

overrides = {} if n_photutils_check is None else {"preprocess": {"n_photutils_check": n_photutils_check}}
cfg = config.setup(profile, source, seed, overrides=overrides)
print(cfg.describe("preprocess"))
print("photutils deblending available:", orientation.deblending_available())

# %% [markdown]
# ## Drops, orientations, normalisation, resizing
# One streaming pass for drops, orientations and band maxima; ⟨max⟩ from the training galaxies; a
# second pass normalises, resizes and writes `images.h5`, `catalog.parquet` and `norm.json`.

# %%
result = preprocess.preprocess_survey(cfg)
print(f"{result['n_input']} cutouts in, {result['n_kept']} kept, {result['drops'].n} dropped")
print(result["catalog"]["split"].value_counts().to_dict())
print("⟨max⟩ per band (training galaxies):", result["norm"]["band_max_mean"])

# %%
drops_table = result["drops"].table(result["n_input"])
outputs.save_table(drops_table, "A-drops", cfg,
                   caption=f"Paper A cutouts dropped before training, by reason ({source} survey, "
                           f"profile {profile}); the paper removed 5 of 26,131 for a missing band.")
drops_table

# %% [markdown]
# ## Orientation: fast path vs photutils (and vs the truth on the mock)
# Periodic (mod π) RMS on resolved galaxies (segment ≥ 60 px, ellipticity ≥ 0.3).

# %%
agreement = result["agreement"]
for quantity, key in (("rms fast − photutils [rad]", "A-orientation-rms-fast-vs-photutils"),
                      ("rms fast − truth [rad]", "A-orientation-rms-fast-vs-truth")):
    rows = agreement[agreement["quantity"] == quantity]
    if len(rows) and rows["n"].iloc[0] > 0:
        outputs.record(key, float(rows["ours"].iloc[0]), cfg, unit="rad")
agreement

# %%
fig = figures.plot_orientation_examples(cfg, n=n_examples)
outputs.save_figure(fig, "A-orientation-examples", cfg,
                    caption=f"Central-galaxy orientation on {source} grz cutouts (profile {profile}): "
                            "batched fast path (orange), photutils as in paper A (cyan, where "
                            "measured) and, for the mock survey, the true major axis (white dashed); "
                            "angles counter-clockwise from +x.")
