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
# # 08 · Paper B: fine-tune the text-to-image diffusion model
#
# Makes:
# - `B-table1` (table; paper B Table 1)
# - `B-fig3` (figure; paper B Fig. 3)
#
# **Not implemented yet.** The content of this notebook comes with issue 7.
# Until then it only checks its parameters and writes nothing.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random

# %%
from raregal import config

cfg = config.setup(profile, source, seed, make_dirs=False)
print(cfg.describe("diffusion"))
print("08_finetune_diffusion: not implemented yet; no outputs written.")
