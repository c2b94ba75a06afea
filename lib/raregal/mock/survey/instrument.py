"""What the DECaLS-like camera does to the paper A mock: bands, pixel scale, PSF, depths, filters.

Why one module: the population (magnitude limits), the photometry (filter curves) and the renderer
(PSF, noise, saturation) must agree on the same instrument; Gagliano & Villar (2023) use DECaLS
grz cutouts at 0.262″/px.
"""
from __future__ import annotations

BANDS = ("g", "r", "z")
PIXEL_SCALE = 0.262  # arcsec / px (DECaLS)
CUTOUT_SIZE = 128
PSF_FWHM_ARCSEC = 1.3
MOFFAT_BETA = 3.5
DEPTH_5SIGMA = {"g": 24.0, "r": 23.4, "z": 22.5}  # AB, point source
ELECTRONS_PER_NMGY = 400.0  # coadd gain for source shot noise (order of a DECaLS 3-pass coadd)
SATURATION_NMGY = 100.0  # per-pixel plateau of saturated stars
FILTER_EDGES = {"g": (3980.0, 5480.0), "r": (5620.0, 7150.0), "z": (8500.0, 10000.0)}  # Å, DECam
