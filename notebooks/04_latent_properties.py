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
# # 04 · Paper A: latents vs physical properties
#
# Makes:
# - `A-fig1` (figure; paper A Fig. 1)
# - `A-table1` (table; paper A Table 1)
#
# **Not implemented yet.** The content of this notebook comes with issue 4.
# Until then it only checks its parameters and writes nothing.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random

# %%
from raregal import config

cfg = config.setup(profile, source, seed, make_dirs=False)
print(cfg.describe("cvae"))
print("04_latent_properties: not implemented yet; no outputs written.")
