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
# - `B-fig4` (figure; paper B Fig. 4)
# - `B-fig5` (figure; paper B Fig. 5)
# - `B-table-metrics` (table; paper B §4.1)
#
# **Not implemented yet.** The content of this notebook comes with issue 8.
# Until then it only checks its parameters and writes nothing.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random

# %%
from raregal import config

cfg = config.setup(profile, source, seed, make_dirs=False)
print(cfg.describe("simclr"))
print("10_generation_metrics: not implemented yet; no outputs written.")
