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
# # 04 · Paper A: latents vs physical properties (Fig. 1, Table 1)
#
# Makes:
# - `A-fig1` (figure; paper A Fig. 1): each physics latent against its catalog value for the validation
#   galaxies, 1σ catalog errors in grey, Green Peas and Red Spirals over-plotted.
# - `A-table1` (table; paper A Table 1): R² of a linear regression from latent to catalog value for
#   z, log M*, log SFR — physics CVAE (its one latent), vanilla CVAE (all five latents), and two
#   baselines computed here on the same train/val split: (g, r, z) aperture photometry + MLP, and an
#   image embedding (PCA of the normalised pixels; the paper quotes AstroCLIP's) + kNN. On the mock,
#   extra rows score the same latents against the *true* values, and 'diagnostic' rows ask why the
#   photometry MLP beats the image models here: the same MLP on the mock's noiseless total fluxes (how
#   far colours + flux determine z and M* in the mock's physics), on aperture sums of the eq. 1
#   images (what the tanh(asinh) stretch, which saturates bright cores, leaves of the flux) and on
#   the same pixels with eq. 1 undone (whether that information is lost or only compressed).
# - `A-table-intervals` (table; the survey catalog of `python -m raregal.infer`): 68 % and 95 % intervals
#   for z, log M*, log SFR from the physics latents (linear calibration fitted on the training galaxies,
#   intervals calibrated on every validation galaxy, on the mock joined by fresh mock galaxies): empirical
#   coverage ± its binomial standard error
#   and mean width, beside the same conformal intervals around the photometry + MLP baseline. On the
#   mock, scored on thousands of fresh mock galaxies (never used in training) put through the run's
#   preprocessing and encoder; on real data, on one half of the validation galaxies after calibrating
#   on the other half.
# - `latents.parquet` (every galaxy encoded by each model), read by notebooks 05 and 06; the fitted
#   calibration and intervals (`cvae/calibration/`), read by 05 when it writes the survey model bundle.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
aperture_radius_px = 8.0  # photometry baseline aperture radius on the 128 px cutouts (0.262"/px)
n_components = 32  # PCA components of the pixel embedding baseline
knn_k = 16  # neighbours of the kNN baseline
interval_method = "conformal"  # intervals the survey bundle ships: conformal | conformal_sigma | sigma_recalibrated
n_held_out = None  # fresh mock galaxies the coverage is scored on (mock only); None: twice the profile's normal galaxies
n_extra_calibration = None  # fresh mock galaxies that join the validation ones in calibrating (mock only); None: the profile's normal galaxies

# %%
import pandas as pd

from raregal.core import config, outputs
from raregal.paper_a import figures, latents, preprocess, values
from raregal.paper_a.infer import coverage, from_run

cfg = config.setup(profile, source, seed)
print(cfg.describe("cvae"))

# %% [markdown]
# ## Encode every galaxy with both trained CVAEs (best-validation weights of 03)

# %%
images, catalog = preprocess.load_processed(cfg)
frame = latents.encode_all(cfg, images, catalog)
val = (catalog["split"] == "val").to_numpy()
phys = frame[latents.latent_columns("physics")].to_numpy()
van = frame[latents.latent_columns("vanilla")].to_numpy()
print(frame.groupby(["split", "class"]).size().to_string())

# %% [markdown]
# ## Table 1: R² of linear fits latent → value on the validation galaxies, with baselines

# %%
cutouts = config.require(cfg.data_dir("interim", "survey_a") / "cutouts.h5", made_by="01_fetch")
fluxes = latents.cutout_fluxes(cutouts, catalog["id"].to_numpy(), radius_px=aperture_radius_px)
baselines, notes = latents.baselines_r2(images, catalog, fluxes, n_components=n_components, k=knn_k, seed=seed)
print(notes)
norm = preprocess.load_norm(cfg)
information = latents.information_rows(images, catalog, fluxes, [norm["band_max_mean"][b] for b in norm["bands"]],
                                       radius_px=aperture_radius_px, seed=seed) if source == "mock" else None
table1 = pd.concat([latents.table1_rows(phys[val], van[val], catalog[val].reset_index(drop=True), baselines,
                                        truth=source == "mock"),
                    latents.orientation_rows(frame[val], catalog[val]), information], ignore_index=True)
outputs.save_table(table1, "A-table1", cfg, caption=(
    f"R² of linear regressions from CVAE latents to catalog values on the {int(val.sum())} validation "
    f"galaxies of the {source} survey (physics CVAE: its one latent; vanilla: all five); baselines "
    "trained on the training split: (g, r, z) aperture photometry + MLP, pixel-PCA embedding + kNN "
    "(the paper's baseline values are AstroCLIP's, Lanusse et al. 2023, on ~200k DECaLS galaxies). 'truth' rows: "
    "against the mock's true values. Orientation rows: periodic rms of latent 1 against the measured angle. "
    "'diagnostic' rows (mock only): the photometry MLP on other inputs — noiseless true fluxes, aperture sums "
    "of the eq. 1-normalised images, the same with eq. 1 undone — to show where image information is lost."))
table1.pivot_table(index=["method", "against"], columns="quantity", values="ours").round(3)

# %% [markdown]
# ## Fig. 1: physics latents vs catalog values

# %%
anom = {c: (phys[(catalog["class"] == c).to_numpy()], catalog[catalog["class"] == c])
        for c in ("green_pea", "red_spiral")}
fig = figures.figure_latents_vs_catalog(phys[val], catalog[val], anom, title=(
    f"Paper A Fig. 1 on the {source} survey: physics-informed CVAE latents vs catalog values (validation)"))
outputs.save_figure(fig, "A-fig1", cfg, caption=(
    f"Physics-informed CVAE latents 1-4 against catalog orientation, z, log M*, log SFR for the "
    f"{int(val.sum())} validation galaxies of the {source} survey (grey: catalog 1σ; orientation σ = 0.1 rad), "
    "Green Peas (green) and Red Spirals (red) over-plotted; dashed: one-to-one; panel titles: R² of a linear fit."))
for q in latents.TABLE1_QUANTITIES:
    r = table1[(table1.method == "physics CVAE") & (table1.quantity == q) & (table1.against == "catalog")]
    outputs.record(f"A-r2-physics-{q}", float(r.ours.iloc[0]), cfg, paper=values.PAPER_TABLE1.get(("physics CVAE", q)))

# %% [markdown]
# ## Survey intervals: coverage on held-out galaxies, width beside the photometry + MLP baseline

# %%
held_out = from_run.held_out_for_run(cfg, n_held_out, n_extra_calibration) if source == "mock" else None
if held_out is not None:
    print(f"held-out mock galaxies (seed {held_out.seed}): {len(held_out.frame)} kept of {held_out.n_drawn}; "
          f"dropped: {held_out.drops['reason'].value_counts().to_dict()}")
calibration, intervals, comparison = from_run.calibrate_run(cfg, images, catalog, interval_method=interval_method,
                                                            held_out=held_out)
baseline = coverage.baseline_comparison(fluxes, catalog, seed=seed, held_out=held_out)
table_intervals = coverage.intervals_table(comparison, baseline, interval_method)
outputs.save_table(table_intervals, "A-table-intervals", cfg, caption=coverage.caption(source, catalog, held_out))
print({q: round(r, 2) for q, r in coverage.width_ratio(table_intervals, interval_method).items()},
      "= mean 68 % width of the bundle's intervals / the baseline's")
print("the bundle's cells outside ±2 % of nominal (std: binomial standard error):")
print(coverage.misses(table_intervals, interval_method)[["quantity", "level", "ours", "std", "n"]].round(3).to_string())
table_intervals.pivot_table(index=["method", "level"], columns=["quantity", "statistic"], values="ours").round(3)
