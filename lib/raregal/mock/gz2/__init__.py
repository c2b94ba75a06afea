"""Paper B mock: GZ2-like gri colour images and a Hart et al. (2016)-schema vote catalog.

Why: the diffusion, SimCLR and classifier stages of Ma et al. (2025) need GZ2 images with volunteer
votes *and* a truth to score against. The package walks the GZ2 tree with realistic frequencies,
gives each galaxy physical properties, renders it procedurally and lets simulated volunteers vote:

* ``population`` — the tree walk (``FREQUENCIES``, tuned to Ma et al. 2025 §4.2's positive
  fractions) and z, r mag, log M*, log SFR, log halo mass, flux-limited at r < 17.0 like the GZ2
  main sample (Willett et al. 2013).
* ``votes`` — simulated volunteers: multinomial votes down the tree, per-galaxy difficulty, a
  resolution bias that the ``debiased`` columns remove (Hart et al. 2016), too few classifications
  for some galaxies, so deep tasks are not well sampled.
* ``catalog`` — :func:`make_catalog`: ids, sky positions, votes, physics and truth in one table.
* ``rendering`` / ``components`` — :func:`render_batch`, one function per drawing step: Sérsic
  spheroid / bulge (boxy for boxy edge-on bulges), exponential disk seen at the galaxy's
  inclination, logarithmic spiral arms with the true winding (pitch) and arm number, a bar, a ring,
  a lensed arc, clumps (irregular), a lopsided warp + plume (disturbed), a companion with a tidal
  tail (merger), a bright overlapping star ("other"), dust-lane absorption (stronger in g than i, so
  lanes are dark and red), a Gaussian PSF whose size in pixels grows as the galaxy gets smaller on
  the sky (small, distant galaxies look smooth — the bias Hart et al. 2016 debiasing removes), sky
  noise by pixel area, and the Lupton asinh gri → RGB stretch (:func:`lupton_rgb`: astropy's formula,
  applied to whole batches). Like GZ2 the pixel scale follows the galaxy size: the image spans
  ``fov_r90`` × R90 (GZ2 native: 8.48 = 424 px × 0.02 R90; the default profile renders 64 px over
  4.24 R90 — GZ2's central half — so bulge, bar, arms, ring and lanes span several pixels).
* ``io`` — :func:`write_survey`: ``images/<dr7objid>.jpg``, ``gz2_hart16.csv.gz`` and
  ``detg_known.csv`` (dr7objid, ra, dec, z of the known D-ETG catalog), the CONTRIBUTING contract.

D-ETGs (early type + dust lane; star-forming, in field/group halos) are a profile parameter
(``detg_fraction``: ≈0.13 % in the paper profile; 2 % in default, ≈400 of 20,000, so Ma et al.
2025 Table 3's 100 training positives and a test set exist). 80 % of those at z < 0.1 — about a
third of all — form the "known catalog" (``detg_known.csv``, the role of Kaviraj et al. 2012's
352); the rest are for the search to find. Their lanes are drawn as deep as the disks'
(``detg_lane_depth`` 1 in every profile): edge-on disks' lanes peak at a median A_g ≈ 2.4 mag after
the PSF, as the 2–3 mag (B) Jansen et al. (1994) measured in edge-on spirals; no published peak for
early types' lanes was found. ``benchmarks/detg_lane_depth.py`` measures Table 3 at other depths.
"""
from raregal.mock.gz2.catalog import ID_BASE, make_catalog
from raregal.mock.gz2.io import write_survey
from raregal.mock.gz2.population import FREQUENCIES, R_LIMIT, sample_morphology, sample_physics
from raregal.mock.gz2.rendering import (
    BANDS,
    RENDER_BATCH,
    STRETCH,
    lupton_rgb,
    render_batch,
    render_batch_size,
)
from raregal.mock.gz2.votes import gz2_class_string, simulate_votes

__all__ = [
    "BANDS", "FREQUENCIES", "ID_BASE", "RENDER_BATCH", "R_LIMIT", "STRETCH", "gz2_class_string",
    "lupton_rgb", "make_catalog", "render_batch", "render_batch_size", "sample_morphology",
    "sample_physics", "simulate_votes", "write_survey",
]
