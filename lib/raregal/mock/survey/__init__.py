"""Paper A mock survey: DECaLS-like grz cutouts of galaxies with known z, M*, SFR and shape.

Why: the real sample of Gagliano & Villar (2023) (GAMA + Zou et al. 2022 + DECaLS cutouts) is not
embedded, yet every later step (CVAE, anomaly search) must be tested against ground truth. So this
package draws a physically grounded population and renders it the way DECaLS would see it
(DESIGN.md §4 A):

* ``instrument`` — bands, 0.262″/px, Moffat PSF FWHM 1.3″, 5σ depths g 24.0, r 23.4, z 22.5, DECam
  filter edges.
* ``photometry`` — Planck18 distances; rest-frame SED = old + young stellar continuum (mixed by
  sSFR) + nebular lines, power-law dust; observed g, r, z fluxes by redshifting the SED through the
  filter curves (k-corrections built in); luminosity from M* and the Bell & de Jong (2001) M/L.
* ``population`` — 70 % GAMA-like (z ≈ 0.2, to 0.5, r < 19.8) and 30 % deep-field (z 0.2–1,
  z-band < 21.0) parents; Schechter masses conditioned on the magnitude limit and on mean r surface
  brightness < 24.5 mag/arcsec²; Speagle et al. (2014) main sequence with 0.3 dex scatter and a
  mass- and z-dependent quenched fraction; rare Green Peas (compact, low mass, very high sSFR,
  [OIII]-boosted r band, 0.11 < z < 0.35) and passive Red Spirals (massive, low SFR, extended,
  face-on disk with arms, z < 0.09); reported values = truth + SED-fit-like errors (σ log M*
  0.08–0.2, σ log SFR 0.2–0.45, spectroscopic z errors); a small fraction of bad cutouts.
* ``rendering`` — bulge (Sérsic n≈2–5) + exponential disk with log-spiral arms, van der Wel et al.
  (2014) sizes, PSF, sky and shot noise, faint field neighbours; bad cutouts with a missing band
  (zeros, as the cutout service returns) or a bright saturated star beside the target.
* ``fast_rendering`` — the same science drawn faster, not bit-identical (table normals, tighter FFT
  stamps), for test surveys at scale.
* ``io`` — ``cutouts.h5`` + ``catalog.parquet`` (CONTRIBUTING contract), streamed in chunks, or a
  folder of HDF5 shards of any size for survey-scale inference, and the summary table beside paper
  A §2.

Orientation convention (CONTRIBUTING.md): radians, major axis measured from the +x (column) axis
towards +y (row index), i.e. counter-clockwise when the image is shown with ``origin="lower"``, in
[-π/2, π/2). Units: images are nanomaggies (m_AB = 22.5 − 2.5 log10 f), float32, shape
(N, 3, 128, 128), bands g, r, z.
"""
from raregal.mock.survey.fast_rendering import render_cutouts_fast
from raregal.mock.survey.instrument import (
    BANDS,
    CUTOUT_SIZE,
    DEPTH_5SIGMA,
    PIXEL_SCALE,
    PSF_FWHM_ARCSEC,
    SATURATION_NMGY,
)
from raregal.mock.survey.io import (
    CONTRACT_COLUMNS,
    PAPER_COUNTS,
    RENDER_CHUNK,
    RENDERERS,
    summary_table,
    write_survey,
    write_survey_for,
)
from raregal.mock.survey.photometry import kpc_to_pixels, nmgy_to_mag, observed_fluxes
from raregal.mock.survey.population import (
    CLASSES,
    DEFECTS,
    PARENT_SAMPLES,
    main_sequence_logsfr,
    quenched_fraction,
    sample_catalog,
    size_kpc,
)
from raregal.mock.survey.rendering import moffat_psf, noise_sigma_per_pixel, render_cutouts

__all__ = [
    "BANDS", "CLASSES", "CONTRACT_COLUMNS", "CUTOUT_SIZE", "DEFECTS", "DEPTH_5SIGMA", "PAPER_COUNTS",
    "PARENT_SAMPLES", "PIXEL_SCALE", "PSF_FWHM_ARCSEC", "RENDER_CHUNK", "RENDERERS", "SATURATION_NMGY",
    "kpc_to_pixels", "main_sequence_logsfr", "moffat_psf", "nmgy_to_mag", "noise_sigma_per_pixel",
    "observed_fluxes", "quenched_fraction", "render_cutouts", "render_cutouts_fast", "sample_catalog", "size_kpc",
    "summary_table", "write_survey", "write_survey_for",
]
