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
# `source = "mock"` (default) generates both mock surveys; `source = "real"` downloads and caches the
# real data (see README, "Real data"). Only this notebook touches the network. Outputs go to
# `data/interim/<source>-<profile>/`. `papers = "B"` prepares paper B's data alone (a Galaxy Zoo 2
# user needs no paper A catalogs), `"A"` paper A's; `papers.json` there records the papers prepared,
# so `./run_all.sh --only 07` knows paper B's data are ready and `--only 02` says paper A's are not.

# %% tags=["parameters"]
profile = "default"  # smoke | default | paper
source = "mock"  # mock | real
seed = 0  # global seed for numpy, torch and random
papers = "A,B"  # the papers whose data to prepare: A, B or A,B (run_all.sh --papers)
catalog_base_url = None  # real: a mirror (or test server) for the catalog downloads; None: their public addresses

# %%
from IPython.display import display

from raregal.core import config, registry

cfg = config.setup(profile, source, seed)
papers_wanted = registry.parse_papers(papers)
print(f"preparing the data of paper(s) {', '.join(papers_wanted)}")

# %% [markdown]
# ## Paper A: grz cutouts and catalog
#
# `source = "mock"`: `raregal.mock.survey` draws a flux- and surface-brightness-limited galaxy sample
# (z < 1, most below 0.4; Schechter stellar masses; star-forming main sequence with a mass-dependent
# quenched fraction; SED colours redshifted through DECam g, r, z; bulge + disk sizes from mass–size
# relations with Planck18 distances) plus Green Peas and Red Spirals, renders DECaLS-like 128×128 grz
# cutouts (0.262″/px, PSF 1.3″, 5σ depths g 24.0 / r 23.4 / z 22.5, neighbours, a few bad cutouts) and
# streams them to `cutouts.h5` with `catalog.parquet` (reported values with SED-fit-like errors, and
# the truth in `true_*`). `source = "real"`: `raregal.fetch.legacy_survey.prepare_survey_a` writes the
# same files from the catalogs and the Legacy Surveys cutout service. Table `A-data-summary` puts our
# counts beside paper A's (26,126 galaxies + 294 Red Spirals + 13 Green Peas).

# %%
import pandas as pd

from raregal.core import outputs
from raregal.fetch import legacy_survey as real_survey_a
from raregal.mock import survey as mock_survey

if "A" in papers_wanted:
    print(cfg.describe("survey_a"))
    survey_a_dir = cfg.data_dir("interim", "survey_a")
    if source == "mock":
        survey_a_run = mock_survey.write_survey_for(cfg)
    else:
        # real: GAMA DR4 masses and Zou et al. 2022 downloaded (README "Real data"), Green Peas and Red
        # Spirals from your files in data/raw/catalogs, then Legacy Surveys cutouts
        survey_a_run = real_survey_a.prepare_survey_a(cfg, catalog_urls=catalog_base_url)
    print(survey_a_run)

# %%
if "A" in papers_wanted:
    survey_a_catalog = pd.read_parquet(config.require(survey_a_dir / "catalog.parquet",
                                                      made_by="01_fetch"))
    survey_a_summary = mock_survey.summary_table(survey_a_catalog)
    outputs.save_table(survey_a_summary, "A-data-summary", cfg,
                       caption=f"Paper A sample ({source} grz survey, profile {profile}): galaxies per "
                               "class, median catalog z and log M*, and bad cutouts, beside paper A §2.")
    registry.mark_prepared(cfg.data_dir("interim"), "A")
    display(survey_a_summary)

# %% [markdown]
# ## Paper B: GZ2-like images and votes
#
# `source = "mock"`: `raregal.mock.gz2` walks the GZ2 decision tree with realistic frequencies,
# gives each galaxy z, r mag, log M*, log SFR and log halo mass (flux-limited, r < 17.0), renders it
# (bulge, disk, spiral arms, bar, ring, arcs, clumps, companion + tidal tail, dust lane, PSF, noise,
# asinh gri → RGB) and lets simulated volunteers vote. It writes `images/<dr7objid>.jpg`, the vote
# catalog `gz2_hart16.csv.gz` in the Hart et al. (2016) schema (with the mock truth in `true_*`) and
# the known D-ETG list `detg_known.csv`. `source = "real"`: `raregal.fetch.gz2.prepare_gz2` writes
# the same files from the real GZ2 catalog and images. Table `B-data-summary` puts our counts beside
# Ma et al. (2025)'s (239,695 galaxies, 71,455 well-sampled, 27,910 training images).

# %%
import pandas as pd

from raregal.core import gz2_schema, images, outputs
from raregal.fetch import gz2 as real_gz2
from raregal.mock import gz2 as mock_gz2
from raregal.paper_b import labels

if "B" in papers_wanted:
    print(cfg.describe("survey_b", "labels"))
    gz2_dir = cfg.data_dir("interim", "gz2")
    if source == "mock":
        gz2_run = mock_gz2.write_survey(gz2_dir, cfg.survey_b.n_galaxies, cfg.survey_b.image_size,
                                        cfg.seed, cfg.survey_b.fov_r90, cfg.survey_b.detg_fraction,
                                        detg_lane_depth=cfg.survey_b.detg_lane_depth)
    else:
        # real: Hart16 catalog + Zenodo GZ2 images (or the Kaggle files) in data/raw/gz2 (README "Real data")
        gz2_run = real_gz2.prepare_gz2(cfg, catalog_urls=catalog_base_url)  # + GSWLC-2 physical columns
    print({k: v for k, v in gz2_run.items() if k != "drops"})

# %%
if "B" in papers_wanted:
    gz2_catalog, gz2_drops = gz2_schema.validate_catalog(gz2_schema.read_catalog(gz2_dir))
    gz2_no_image = images.find_missing(gz2_dir / gz2_schema.IMAGES_DIR, gz2_catalog.dr7objid)
    gz2_drops = pd.concat([gz2_drops, gz2_no_image.rename(columns={"id": "dr7objid"}),
                           gz2_run.get("drops", pd.DataFrame(columns=["dr7objid", "reason"]))],
                          ignore_index=True)
    gz2_table = labels.build_tag_table(gz2_catalog[~gz2_catalog.dr7objid.isin(gz2_no_image.id)],
                                       cfg.labels.tag_cap, cfg.seed, gz2_schema.read_known_detg(gz2_dir))
    gz2_summary = labels.data_summary(
        len(gz2_catalog) + len(gz2_drops), gz2_table, gz2_drops,
        int(gz2_catalog.true_detg.sum()) if "true_detg" in gz2_catalog else None)
    outputs.save_table(gz2_summary, "B-data-summary", cfg,
                       caption=f"Paper B sample ({source} GZ2, profile {profile}): galaxies, well-sampled "
                               f"galaxies (≥ 1 tag) and balanced diffusion training images (cap "
                               f"{cfg.labels.tag_cap} per tag combination) beside Ma et al. (2025) §3.")
    registry.mark_prepared(cfg.data_dir("interim"), "B")
    display(gz2_summary)
