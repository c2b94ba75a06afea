"""The published numbers of Gagliano & Villar (2023), in one place.

Why a module: the tables and notebooks put the paper's value beside ours (the ``paper`` column), and
the code uses the settings the paper states; both read them here, so a number quoted from the paper
is typed once and cited once. Section numbers are those of the paper (``/work/shared/papers``).
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# Settings the paper states (used as defaults by the code)
# ---------------------------------------------------------------------------------------------
#: eq. 1 stretch: x_b = tanh(asinh(β x_b / ⟨max x_b⟩)), "β = 10 was chosen empirically" (§2)
EQ1_BETA = 10.0
#: §2: "we assume an uncertainty of 0.1 rad for all calculated orientations" [rad]
ORIENTATION_SIGMA = 0.1
#: §2: fraction of the normal galaxies used for training (the rest validate)
TRAIN_FRACTION = 0.8
#: eq. 2 weights of the reconstruction (β0) and property (β1) terms (§2)
LOSS_BETA0, LOSS_BETA1 = 10.0, 50.0

# ---------------------------------------------------------------------------------------------
# Results the paper reports (the ``paper`` column of our tables)
# ---------------------------------------------------------------------------------------------
#: §2: DECaLS cutouts before any drop ("we remove five galaxies ..., leaving us with ... 26,126")
PAPER_N_CUTOUTS = 26131
#: §2: drops by reason — "five galaxies that are missing images in at least one filter"
PAPER_DROPS = {"missing_band": 5}

#: Table 1 and §3: R² of the linear fits; keys (method, quantity). The two baselines are the ones the
#: paper quotes from AstroCLIP (Lanusse et al. 2023).
PAPER_TABLE1 = {
    ("physics CVAE", "z"): 0.83, ("physics CVAE", "logmstar"): 0.75, ("physics CVAE", "logsfr"): 0.26,
    ("photometry + MLP", "z"): 0.69, ("photometry + MLP", "logmstar"): 0.65,
    ("image embedding + kNN", "z"): 0.71, ("image embedding + kNN", "logmstar"): 0.66,
}

#: §3: RBF SVM + SMOTE over five trials; (model, class) → (recovery %, ± %, contamination %)
PAPER_SVM = {
    ("physics CVAE", "red_spiral"): (94.0, 2.0, 5.0), ("physics CVAE", "green_pea"): (67.0, 0.0, 2.0),
    ("vanilla CVAE", "red_spiral"): (94.0, 2.0, 6.0), ("vanilla CVAE", "green_pea"): (47.0, 27.0, 4.0),
}

#: §3: "7 ms per galaxy on an Apple M2 Max chip" (batch size not stated) [ms/galaxy]
PAPER_ENCODE_MS = 7.0
#: §3: "~1500 CPU-hours" to encode the galaxies Rubin will observe [CPU-hours]
PAPER_SURVEY_CPU_HOURS = 1500.0
#: §3: "all 20B galaxies observed by the Vera C. Rubin Observatory"
RUBIN_GALAXIES = 2e10
