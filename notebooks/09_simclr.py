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
# # 09 · Paper B: SimCLR galaxy embedding
#
# Makes:
# - `B-figA1` (figure; paper B Fig. A1)
# - `B-figA2` (figure; paper B Fig. A2)
# - `B-table-simclr` (table)
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
print("09_simclr: not implemented yet; no outputs written.")
