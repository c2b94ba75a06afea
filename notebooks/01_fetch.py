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
# # 01 · Data for both papers (mock survey or real downloads)
#
# Makes:
# - `A-data-summary` (table; paper A §2 sample counts)
# - `B-data-summary` (table; paper B §2 sample counts)
#
# **Not implemented yet.** The content of this notebook comes with issue 3 (mock grz survey), 6 (mock GZ2 survey) and 5 (real data).
# Until then it only checks its parameters and writes nothing.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random

# %%
from raregal import config

cfg = config.setup(profile, source, seed, make_dirs=False)
print(cfg.describe("survey_a"))
print("01_fetch: not implemented yet; no outputs written.")
