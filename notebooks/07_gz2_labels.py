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
# # 07 · Paper B: vote fractions → well-sampled tags → prompts
#
# Makes:
# - `B-fig2` (figure; paper B Fig. 2)
# - `B-mock-gallery` (figure)
# - `B-table-tags` (table)
#
# **Not implemented yet.** The content of this notebook comes with issue 6.
# Until then it only checks its parameters and writes nothing.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random

# %%
from raregal import config

cfg = config.setup(profile, source, seed, make_dirs=False)
print(cfg.describe("labels"))
print("07_gz2_labels: not implemented yet; no outputs written.")
