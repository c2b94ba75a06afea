"""Distances and colours of the paper A mock: Planck18 distances, a rest-frame SED basis, DECam
filter curves, and the observed g, r, z fluxes of a galaxy with given z, M*, sSFR and dust.

Why: observed fluxes come from redshifting the SED through the filter curves, so k-corrections and
the 4000 Å break moving through the bands (Gagliano & Villar 2023 use grz colours of a sample to
z ≈ 1) are built in rather than assumed. Luminosity from M* and the colour-dependent M/L of
Bell & de Jong (2001), distances from astropy's Planck18.
"""
from __future__ import annotations

import functools

import numpy as np

from raregal.mock.survey.instrument import BANDS, FILTER_EDGES, PIXEL_SCALE

Z_GRID = np.linspace(0.0, 1.2, 241)  # redshifts of the distance and band tables
_AV_GRID = np.linspace(0.0, 3.0, 31)


@functools.lru_cache(maxsize=1)
def _distance_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planck18 luminosity distance [pc], angular-diameter distance [kpc], age [Gyr] on Z_GRID."""
    from astropy.cosmology import Planck18

    z = np.maximum(Z_GRID, 1e-4)
    d_l = Planck18.luminosity_distance(z).to_value("pc")
    d_a = Planck18.angular_diameter_distance(z).to_value("kpc")
    age = Planck18.age(z).to_value("Gyr")
    return d_l, d_a, age


def luminosity_distance_pc(z: np.ndarray) -> np.ndarray:
    """Planck18 luminosity distance [pc] (interpolated on Z_GRID)."""
    return np.interp(z, Z_GRID, _distance_tables()[0])


def angular_diameter_distance_kpc(z: np.ndarray) -> np.ndarray:
    """Planck18 angular-diameter distance [kpc] (interpolated on Z_GRID)."""
    return np.interp(z, Z_GRID, _distance_tables()[1])


def cosmic_age_gyr(z: np.ndarray) -> np.ndarray:
    """Planck18 age of the universe [Gyr] at redshift z (interpolated on Z_GRID)."""
    return np.interp(z, Z_GRID, _distance_tables()[2])


def kpc_to_pixels(size_kpc: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Physical size → cutout pixels via the Planck18 angular-diameter distance at 0.262″/px."""
    arcsec = np.asarray(size_kpc) / angular_diameter_distance_kpc(z) * (180 / np.pi * 3600)
    return arcsec / PIXEL_SCALE


_REST = np.arange(800.0, 11500.0, 2.0)  # rest-frame wavelength grid [Å]
# f_nu anchor points (log-log interpolated), normalised to 1 at 5500 Å. Old: red continuum with a
# 4000 Å break and a weak UV; young: blue, nearly flat in f_nu, with a small Balmer break.
_OLD_ANCHORS = ((800, 2e-4), (2000, 4e-3), (2800, 0.03), (3600, 0.13), (3950, 0.19), (4100, 0.42),
                (4600, 0.60), (5500, 1.0), (7000, 1.62), (9000, 2.15), (11500, 2.45))
_YOUNG_ANCHORS = ((800, 0.45), (2500, 0.52), (3600, 0.62), (3700, 0.74), (5500, 1.0),
                  (7000, 1.15), (9000, 1.27), (11500, 1.33))
# Nebular line sets: (rest λ [Å], strength relative to the set's reference line).
_BALMER_LINES = ((6563.0, 1.0), (6584.0, 0.3), (4861.0, 0.35), (4340.0, 0.17), (3727.0, 0.6))
_OIII_LINES = ((5007.0, 1.0), (4959.0, 0.33))


def _anchored(anchors) -> np.ndarray:
    lam, f = np.array(anchors, dtype=float).T
    return np.exp(np.interp(np.log(_REST), np.log(lam), np.log(f)))


def _line_set(lines, continuum_fnu: np.ndarray, sigma: float = 8.0) -> np.ndarray:
    """f_nu of emission lines whose reference line has rest EW 1 Å against ``continuum_fnu``."""
    ref = lines[0][0]
    cont_flam_ref = np.interp(ref, _REST, continuum_fnu) / ref**2
    flam = np.zeros_like(_REST)
    for lam0, strength in lines:
        flam += strength * cont_flam_ref * np.exp(-0.5 * ((_REST - lam0) / sigma) ** 2)
    flam /= sigma * np.sqrt(2 * np.pi)
    return flam * _REST**2


def sed_basis() -> np.ndarray:
    """(4, n_λ) rest-frame f_nu basis: old stars, young stars, Hα-set (EW 1 Å), [OIII]-set (EW 1 Å)."""
    young = _anchored(_YOUNG_ANCHORS)
    return np.stack([_anchored(_OLD_ANCHORS), young, _line_set(_BALMER_LINES, young),
                     _line_set(_OIII_LINES, young)])


def filter_curve(band: str, lam: np.ndarray) -> np.ndarray:
    """Smooth-edged top-hat transmission of a DECam band at wavelengths ``lam`` [Å]."""
    lo, hi = FILTER_EDGES[band]
    w = 60.0
    return 1 / (1 + np.exp(-(lam - lo) / w)) / (1 + np.exp(-(hi - lam) / w))


def dust_attenuation(a_v: np.ndarray | float, lam: np.ndarray = _REST) -> np.ndarray:
    """Charlot & Fall (2000)-like power law: A_λ = A_V (λ/5500 Å)^-0.7."""
    return 10 ** (-0.4 * np.multiply.outer(a_v, (lam / 5500.0) ** -0.7))


@functools.lru_cache(maxsize=1)
def _band_table() -> np.ndarray:
    """(n_z, n_Av, 4 basis, 3 bands) photon-weighted mean f_nu of each attenuated basis SED,
    redshifted to z and seen through the DECam filters (the (1+z) bandwidth factor excluded)."""
    basis = sed_basis()  # (4, L)
    att = dust_attenuation(_AV_GRID)  # (A, L)
    seds = (att[:, None, :] * basis[None]).reshape(-1, _REST.size)  # (A*4, L)
    dlog = np.gradient(_REST) / _REST
    out = np.empty((Z_GRID.size, _AV_GRID.size, 4, len(BANDS)))
    for b, band in enumerate(BANDS):
        lam_obs = np.outer(1 + Z_GRID, _REST)  # (Z, L)
        weights = filter_curve(band, lam_obs) * dlog  # rest dλ/λ = obs dλ/λ
        norm = weights.sum(1, keepdims=True)
        out[..., b] = ((weights / norm) @ seds.T).reshape(Z_GRID.size, _AV_GRID.size, 4)
    return out


def band_fnu(z: np.ndarray, a_v: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """(N, 3) mean f_nu in g, r, z (basis units) of SED ``coeffs`` (N, 4) at redshift z, dust A_V."""
    table = _band_table()
    fz = np.clip(np.asarray(z) / Z_GRID[1], 0, Z_GRID.size - 1.001)
    fa = np.clip(np.asarray(a_v) / _AV_GRID[1], 0, _AV_GRID.size - 1.001)
    iz, ia = fz.astype(int), fa.astype(int)
    tz, ta = (fz - iz)[:, None, None], (fa - ia)[:, None, None]
    t = ((1 - tz) * (1 - ta) * table[iz, ia] + tz * (1 - ta) * table[iz + 1, ia]
         + (1 - tz) * ta * table[iz, ia + 1] + tz * ta * table[iz + 1, ia + 1])  # (N, 4, 3)
    return np.einsum("nk,nkb->nb", coeffs, t)


def sed_coefficients(logssfr: np.ndarray, ew_halpha: np.ndarray, ew_oiii: np.ndarray) -> np.ndarray:
    """(N, 4) basis weights: young-light fraction at 5500 Å set by sSFR; lines scale with it."""
    w = young_fraction(logssfr)
    return np.stack([1 - w, w, w * ew_halpha, w * ew_oiii], axis=1)


def young_fraction(logssfr: np.ndarray) -> np.ndarray:
    """Fraction of the 5500 Å light from young stars, a logistic in log sSFR [yr⁻¹] around −10.4."""
    return 1 / (1 + np.exp(-(np.asarray(logssfr) + 10.4) / 0.4))


def observed_fluxes(z, logmstar, a_v, coeffs) -> tuple[np.ndarray, np.ndarray]:
    """Observed g, r, z fluxes [nanomaggies] (N, 3) and the rest-frame g−r colour.

    L_r from M* and the Bell & de Jong (2001) M/L–colour relation log(M/L_r) = −0.306 + 1.097 (g−r);
    f_nu,obs = (1+z) L_nu(ν(1+z)) / 4π d_L² gives the k-correction from the redshifted SED.
    """
    rest = band_fnu(np.zeros_like(z), a_v, coeffs)
    gr_rest = -2.5 * np.log10(rest[:, 0] / rest[:, 1])
    log_ml = -0.306 + 1.097 * gr_rest
    abs_r = 4.65 - 2.5 * (logmstar - log_ml)  # AB absolute r magnitude (M_sun,r = 4.65)
    f10pc_r = 10 ** (-0.4 * (abs_r + 48.6))  # erg/s/cm²/Hz at 10 pc
    scale = f10pc_r / rest[:, 1]
    obs = band_fnu(z, a_v, coeffs) * (scale * (1 + z) * (10.0 / luminosity_distance_pc(z)) ** 2)[:, None]
    mags = -2.5 * np.log10(obs) - 48.6
    return 10 ** (-0.4 * (mags - 22.5)), gr_rest


def nmgy_to_mag(flux: np.ndarray) -> np.ndarray:
    """AB magnitude of a flux in nanomaggies (floored at 1e-12 nmgy, so zeros stay finite)."""
    return 22.5 - 2.5 * np.log10(np.maximum(flux, 1e-12))


@functools.lru_cache(maxsize=1)
def _brightest_mag_per_mass() -> np.ndarray:
    """(n_z, 3) g, r, z magnitudes of a dust-free, young-dominated logM*=10 galaxy on Z_GRID."""
    z = np.maximum(Z_GRID, 1e-3)
    coeffs = sed_coefficients(np.full(z.size, -8.0), np.zeros(z.size), np.zeros(z.size))
    flux, _ = observed_fluxes(z, np.full(z.size, 10.0), np.zeros(z.size), coeffs)
    return nmgy_to_mag(flux)


def brightest_mags(z: np.ndarray) -> np.ndarray:
    """(N, 3) g, r, z magnitudes of the brightest possible log M* = 10 galaxy (dust-free, young) at z.

    Why: a lower bound on M* for the Schechter draw — nothing lighter than this can pass a
    parent sample's magnitude limit, so hopeless draws are never made.
    """
    table = _brightest_mag_per_mass()
    return np.stack([np.interp(z, Z_GRID, table[:, b]) for b in range(3)], 1)
