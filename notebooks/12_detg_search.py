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
# # 12 · Paper B: dust-lane early-type galaxy search
#
# Makes:
# - `B-table3` (table; paper B Table 3)
# - `B-table-search` (table)
# - `B-fig6` (figure; paper B Fig. 6)
# - `B-fig7` (figure; paper B Fig. 7)
# - `B-fig8` (figure; paper B Fig. 8)
# - `B-fig9` (figure; paper B Fig. 9)
# - `B-figD4` (figure; paper B Fig. D4)
# - `detg_candidates` (catalog; paper B D-ETG catalog)
#
# **Not implemented yet.** The content of this notebook comes with issue 9.
# Until then it only checks its parameters and writes nothing.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random

# %%
from raregal import config

cfg = config.setup(profile, source, seed, make_dirs=False)
print(cfg.describe("classifiers"))
print("12_detg_search: not implemented yet; no outputs written.")
