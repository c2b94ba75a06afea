"""The published numbers of Ma et al. (2025), in one place: the code puts them beside ours.

Why one module: every table of paper B carries a ``paper`` column; gathering the transcribed values
here keeps them apart from the code that computes ours, and a reader checks them against the paper
in one file. Values are as printed in the paper (Tables 2 and 3, §3.1, §3.2, §4.3).
"""
from __future__ import annotations

import pandas as pd

QUANTITIES = ("purity", "completeness", "f1")  # the order of each method's triple below (and of our tables)

# Ma et al. (2025) Table 2 (positive fraction of each task in GZ2; purity, completeness, F1 per method).
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

# Ma et al. (2025) Table 3 (purity, completeness, F1 of D-ETG identification at 1 positive : 100 negatives).
PAPER_TABLE3 = pd.DataFrame(
    [(m, q, v) for m, vals in {"baseline": (0.43, 0.43, 0.43), "focal": (0.48, 0.16, 0.24),
                               "augmented": (0.74, 0.60, 0.66)}.items()
     for q, v in zip(QUANTITIES, vals)], columns=["method", "quantity", "paper"])

# Ma et al. (2025) §3.1: the most common tag combination before and after the cap of 2,000 per tag
PAPER_LABEL_COUNTS = {"smooth|completely_round": (14_835, 2_000)}

# Ma et al. (2025) §3.1 and §3.2: the sample sizes
PAPER_COUNTS = {
    "galaxies in catalog": 239_695, "well-sampled galaxies": 71_455,
    "diffusion training images": 27_910, "known D-ETGs (catalog)": 352,
}

# Ma et al. (2025) Table 3: 100 known D-ETGs against 10,000 random galaxies (1 : 100)
PAPER_TABLE3_SIZES = {"n_positives": 100, "n_negatives": 10000}

# Ma et al. (2025) §4.3 search numbers (239,695 GZ2 galaxies; 352 known D-ETGs of Kaviraj et al. 2012).
PAPER_SEARCH = {"n_catalog": 239695, "n_known": 352, "n_synthetic": 10000, "n_negatives": 10000,
                "candidates": {1: 8184, 2: 2488, 3: 1062}, "final_new": 520, "n_control": 4000,
                "min_votes": 2, "n_reviewers": 3}
