"""Paper A mock survey: DECaLS-like grz cutouts of galaxies with known z, M*, SFR and shape.

Why: the real sample (GAMA + Zou et al. 2022 + DECaLS cutouts) is not embedded, yet every later step
(CVAE, anomaly search) must be tested against ground truth. So this module draws a physically
grounded population and renders it the way DECaLS would see it (DESIGN.md §4 A):

* **Population** — two parent samples like the paper's: 70 % GAMA-like (z ≈ 0.2, to 0.5, r < 19.8)
  and 30 % deep-field (z 0.2–1, z-band < 21.0); stellar masses from a Schechter mass function
  conditioned on the parent's magnitude limit and on mean r surface brightness < 24.5 mag/arcsec²
  (so mass and redshift correlate as in a flux-limited sample); star-forming main sequence of Speagle et al. (2014) with 0.3 dex scatter
  and a mass- and z-dependent quenched fraction; rare classes Green Pea (compact, low mass, very high
  sSFR, [OIII]-boosted r band, 0.11 < z < 0.35) and passive Red Spiral (massive, low SFR, extended,
  face-on disk with arms, z < 0.09).
* **Colours** — rest-frame SED = old + young stellar continuum (mixed by sSFR) + nebular lines, with
  power-law dust attenuation; observed g, r, z fluxes come from redshifting the SED through the
  filter curves (so k-corrections are built in); luminosity from M* and the colour-dependent M/L of
  Bell & de Jong (2001), distances from astropy's Planck18.
* **Shapes** — bulge (Sérsic n≈2–5) + exponential disk (log-spiral arms in disks), mass–size relations
  of van der Wel et al. (2014), angular sizes with the Planck18 angular-diameter distance at
  0.262″/px, Moffat PSF FWHM 1.3″, sky noise for 5σ point-source depths g 24.0, r 23.4, z 22.5 plus
  source shot noise, faint field neighbours.
* **Catalog** — truth in ``true_*`` columns; reported values = truth + SED-fit-like errors
  (σ log M* 0.08–0.2, σ log SFR 0.2–0.45, spectroscopic z errors), with their 1σ errors.
* **Bad cutouts** — a small fraction with a missing band (zeros, as the cutout service returns) or a
  bright saturated star beside the target, so that drop handling downstream is exercised.

Orientation convention (CONTRIBUTING.md): radians, major axis measured from the +x (column) axis
towards +y (row index), i.e. counter-clockwise when the image is shown with ``origin="lower"``, in
[-π/2, π/2).

Units: images are nanomaggies (m_AB = 22.5 − 2.5 log10 f), float32, shape (N, 3, 128, 128), bands g, r, z.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from raregal.core.config import RunConfig

BANDS = ("g", "r", "z")
PIXEL_SCALE = 0.262  # arcsec / px (DECaLS)
CUTOUT_SIZE = 128
PSF_FWHM_ARCSEC = 1.3
MOFFAT_BETA = 3.5
DEPTH_5SIGMA = {"g": 24.0, "r": 23.4, "z": 22.5}  # AB, point source
ELECTRONS_PER_NMGY = 400.0  # coadd gain for source shot noise (order of a DECaLS 3-pass coadd)
SATURATION_NMGY = 100.0  # per-pixel plateau of saturated stars
# The paper's sample joins GAMA DR4 (bright, low z) and the Zou et al. 2022 deep fields (to z ≈ 1):
# each normal galaxy belongs to one parent survey with its own magnitude limit (true magnitude).
PARENT_SAMPLES = {"gama": {"fraction": 0.7, "band": "r", "limit": 19.8},
                  "deep": {"fraction": 0.3, "band": "z", "limit": 21.0}}
SB_LIMIT_R = 24.5  # and mean r-band surface brightness within R_e [mag/arcsec²] (SDSS MGS-like)
FILTER_EDGES = {"g": (3980.0, 5480.0), "r": (5620.0, 7150.0), "z": (8500.0, 10000.0)}  # Å, DECam
CLASSES = ("normal", "green_pea", "red_spiral")
DEFECTS = ("", "missing_band", "bright_star")
RENDER_CHUNK = 256  # fixed: the noise stream depends on it, so it is not a knob
SKY_PATCH = {"ra": (129.0, 141.0), "dec": (-2.0, 3.0)}  # a GAMA-like equatorial field
N_NEIGHBOUR_SLOTS = 3
TRUNCATION_RE = 3.8  # profiles fade to zero between 2.8 and 3.8 R_e (disk truncation ~4 scale lengths)

# Speagle et al. 2014 main sequence, quenched fraction, Schechter mass function.
SCHECHTER = {"logm_star": 10.75, "alpha": -1.3}
MS_SCATTER = 0.3
QUENCHED_LOGSSFR, QUENCHED_SCATTER = -11.7, 0.4  # at z = 0, rising by 0.5 dex per unit z


# --------------------------------------------------------------------------------------------
# Cosmology and SEDs
# --------------------------------------------------------------------------------------------
_Z_GRID = np.linspace(0.0, 1.2, 241)
_AV_GRID = np.linspace(0.0, 3.0, 31)


@functools.lru_cache(maxsize=1)
def _distance_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planck18 luminosity distance [pc], angular-diameter distance [kpc], age [Gyr] on _Z_GRID."""
    from astropy.cosmology import Planck18

    z = np.maximum(_Z_GRID, 1e-4)
    d_l = Planck18.luminosity_distance(z).to_value("pc")
    d_a = Planck18.angular_diameter_distance(z).to_value("kpc")
    age = Planck18.age(z).to_value("Gyr")
    return d_l, d_a, age


def luminosity_distance_pc(z: np.ndarray) -> np.ndarray:
    return np.interp(z, _Z_GRID, _distance_tables()[0])


def angular_diameter_distance_kpc(z: np.ndarray) -> np.ndarray:
    return np.interp(z, _Z_GRID, _distance_tables()[1])


def cosmic_age_gyr(z: np.ndarray) -> np.ndarray:
    return np.interp(z, _Z_GRID, _distance_tables()[2])


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
    out = np.empty((_Z_GRID.size, _AV_GRID.size, 4, len(BANDS)))
    for b, band in enumerate(BANDS):
        lam_obs = np.outer(1 + _Z_GRID, _REST)  # (Z, L)
        weights = filter_curve(band, lam_obs) * dlog  # rest dλ/λ = obs dλ/λ
        norm = weights.sum(1, keepdims=True)
        out[..., b] = ((weights / norm) @ seds.T).reshape(_Z_GRID.size, _AV_GRID.size, 4)
    return out


def band_fnu(z: np.ndarray, a_v: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """(N, 3) mean f_nu in g, r, z (basis units) of SED ``coeffs`` (N, 4) at redshift z, dust A_V."""
    table = _band_table()
    fz = np.clip(np.asarray(z) / _Z_GRID[1], 0, _Z_GRID.size - 1.001)
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
    return 22.5 - 2.5 * np.log10(np.maximum(flux, 1e-12))


# --------------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------------
def main_sequence_logsfr(logmstar: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Speagle et al. (2014): log SFR = (0.84 − 0.026 t) log M* − (6.51 − 0.11 t), t = age [Gyr]."""
    t = cosmic_age_gyr(z)
    return (0.84 - 0.026 * t) * logmstar - (6.51 - 0.11 * t)


def quenched_fraction(logmstar: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Mass-dependent quenched fraction, the transition mass rising with z (Peng et al. 2010-like)."""
    return 1 / (1 + np.exp(-(np.asarray(logmstar) - (10.55 + 0.35 * np.asarray(z))) / 0.35))


def size_kpc(logmstar: np.ndarray, z: np.ndarray, early: np.ndarray) -> np.ndarray:
    """Median half-light radius [kpc], van der Wel et al. (2014) late/early-type relations."""
    m = np.asarray(logmstar) - np.log10(5e10)
    late = 10 ** 0.86 * ((1 + z) / 1.25) ** -0.75 * 10 ** (0.22 * m)
    slope = np.where(m > np.log10(2e10 / 5e10), 0.75, 0.15)  # flat below ~2e10 (their Fig. 5)
    pivot = np.log10(2e10 / 5e10)
    early_r = 10 ** 0.60 * ((1 + z) / 1.25) ** -1.48 * 10 ** (0.75 * pivot + slope * (m - pivot))
    return np.where(early, early_r, late)


def _sample_redshift(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Parent sample per galaxy (GAMA-like with z peaking at ≈ 0.2 up to 0.5, or a deep-field
    tail uniform in 0.2–1) and its redshift."""
    grid = np.linspace(0.01, 0.5, 2000)
    pdf = grid**2 * np.exp(-((grid / 0.17) ** 1.5))
    cdf = np.cumsum(pdf)
    cdf /= cdf[-1]
    gama = np.interp(rng.random(n), cdf, grid)
    deep = rng.uniform(0.2, 1.0, n)
    parent = np.where(rng.random(n) < PARENT_SAMPLES["gama"]["fraction"], "gama", "deep")
    return np.clip(np.where(parent == "gama", gama, deep), 0.01, 0.999), parent


def _schechter_draw(rng: np.random.Generator, lower: np.ndarray) -> np.ndarray:
    x = np.linspace(7.5, 12.0, 4000)
    xs, a = SCHECHTER["logm_star"], SCHECHTER["alpha"]
    pdf = 10 ** ((a + 1) * (x - xs)) * np.exp(-(10 ** (x - xs)))
    cdf = np.concatenate([[0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]))])
    cdf /= cdf[-1]
    lo = np.interp(np.clip(lower, x[0], x[-1] - 0.2), x, cdf)
    return np.interp(lo + (1 - lo) * rng.random(lower.size), cdf, x)


def _normal_properties(rng: np.random.Generator, z: np.ndarray, lower: np.ndarray) -> dict:
    n = z.size
    logm = _schechter_draw(rng, lower)
    quenched = rng.random(n) < quenched_fraction(logm, z)
    ms = main_sequence_logsfr(logm, z)
    passive = logm + QUENCHED_LOGSSFR + 0.5 * z + QUENCHED_SCATTER * rng.standard_normal(n)
    logsfr = np.where(quenched, np.minimum(passive, ms - 0.8),
                      ms + MS_SCATTER * rng.standard_normal(n))
    # morphology: quenched → bulge-dominated (some S0 disks), star-forming → disks with arms
    bt = np.where(quenched, rng.beta(4, 2.5, n), np.clip(0.08 + 0.12 * (logm - 9.5), 0, 0.45)
                  * rng.uniform(0.3, 1.7, n))
    arms = np.where(quenched | (logm < 9.3), 0.0, rng.uniform(0.15, 0.55, n))
    a_v = np.where(quenched, rng.uniform(0.0, 0.3, n),
                   np.clip(0.25 + 0.4 * (logm - 9.0) + 0.2 * rng.standard_normal(n), 0.0, 2.0))
    early = bt > 0.5
    size = size_kpc(logm, z, early) * 10 ** (np.where(early, 0.13, 0.17) * rng.standard_normal(n))
    props = {"logmstar": logm, "logsfr": logsfr, "quenched": quenched, "bt": np.clip(bt, 0, 0.97),
             "arm_amplitude": arms, "a_v": a_v, "size_kpc": size,
             "cos_i": rng.random(n), "arms_blue": ~quenched}
    return _with_dust_and_lines(rng, props, green_pea=False)


def _with_dust_and_lines(rng: np.random.Generator, props: dict, green_pea: bool) -> dict:
    """Inclination reddens disks (A_V grows toward edge-on); nebular line EWs from sSFR."""
    props["a_v"] = props["a_v"] * (1 + 0.5 * (1 - props["cos_i"]) * (1 - props["bt"]))
    logssfr = props["logsfr"] - props["logmstar"]
    props["ew_ha"], props["ew_o3"] = _line_ews(rng, props["logmstar"], logssfr,
                                               np.full(logssfr.size, green_pea))
    return props


def _line_ews(rng: np.random.Generator, logm, logssfr, green_pea: np.ndarray) -> tuple:
    """Rest EWs [Å] relative to the young continuum: Hα ∝ sSFR^0.9; [OIII]/Hα high at low mass."""
    n = logm.size
    ew_ha = np.clip(30 * 10 ** (0.9 * (logssfr + 10)) * 10 ** (0.1 * rng.standard_normal(n)), 0, 1500)
    ratio = 0.15 + 0.6 / (1 + np.exp(-(9.5 - logm) / 0.4))
    ew_o3 = ew_ha * ratio
    gp_o3 = 10 ** (2.85 + 0.2 * rng.standard_normal(n))  # ~700 Å (Cardamone et al. 2009)
    ew_o3 = np.where(green_pea, gp_o3, ew_o3)
    ew_ha = np.where(green_pea, gp_o3 / rng.uniform(1.5, 3.0, n), ew_ha)
    return ew_ha, ew_o3


@functools.lru_cache(maxsize=1)
def _brightest_mag_per_mass() -> np.ndarray:
    """(n_z, 3) g, r, z magnitudes of a dust-free, young-dominated logM*=10 galaxy on _Z_GRID (for
    the Schechter lower bound: nothing lighter than this can pass a magnitude limit)."""
    z = np.maximum(_Z_GRID, 1e-3)
    coeffs = sed_coefficients(np.full(z.size, -8.0), np.zeros(z.size), np.zeros(z.size))
    flux, _ = observed_fluxes(z, np.full(z.size, 10.0), np.zeros(z.size), coeffs)
    return nmgy_to_mag(flux)


def _rare_properties(rng: np.random.Generator, cls: str, n: int) -> dict:
    if cls == "green_pea":
        z = rng.uniform(0.11, 0.35, n)
        logm = np.clip(rng.normal(9.2, 0.3, n), 8.6, 10.0)  # Cardamone et al. 2009: 8.5–10
        logsfr = logm + rng.normal(-8.2, 0.3, n)  # log sSFR ≈ −8.2
        return _with_dust_and_lines(rng, {
            "z": z, "logmstar": logm, "logsfr": logsfr, "quenched": np.zeros(n, bool),
            "bt": np.zeros(n), "arm_amplitude": np.zeros(n), "a_v": rng.uniform(0.05, 0.35, n),
            "size_kpc": 10 ** rng.normal(np.log10(0.9), 0.15, n), "cos_i": rng.uniform(0.5, 1, n),
            "arms_blue": np.ones(n, bool)}, green_pea=True)
    if cls == "red_spiral":
        z = rng.uniform(0.025, 0.085, n)
        logm = np.clip(rng.normal(10.9, 0.25, n), 10.4, 11.6)
        logsfr = logm + rng.normal(-11.7, 0.35, n)  # passive: well below the main sequence
        return _with_dust_and_lines(rng, {
            "z": z, "logmstar": logm, "logsfr": logsfr, "quenched": np.ones(n, bool),
            "bt": rng.uniform(0.15, 0.4, n), "arm_amplitude": rng.uniform(0.35, 0.55, n),
            "a_v": rng.uniform(0.2, 0.6, n),
            "size_kpc": size_kpc(logm, z, np.zeros(n, bool)) * 10 ** rng.normal(0.05, 0.1, n),
            "cos_i": rng.uniform(0.63, 1.0, n), "arms_blue": np.zeros(n, bool)}, green_pea=False)
    raise ValueError(f"unknown rare class {cls!r}")


def sample_catalog(n_normal: int, n_green_pea: int, n_red_spiral: int, bad_fraction: float,
                   seed: int, sb_limit_r: float = SB_LIMIT_R, max_rounds: int = 300) -> pd.DataFrame:
    """Draw the whole survey catalog (truth + reported values), rows shuffled, ids unique.

    Normal galaxies: parent sample and z from the prior, then M* (and everything that depends on
    it) redrawn until the galaxy passes its parent's magnitude limit (``PARENT_SAMPLES``) and its
    mean r-band surface brightness within R_e passes ``sb_limit_r`` — flux- and
    surface-brightness-limited spectroscopic samples.
    """
    for name, v in (("n_normal", n_normal), ("n_green_pea", n_green_pea),
                    ("n_red_spiral", n_red_spiral)):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if not 0 <= bad_fraction < 0.5:
        raise ValueError(f"bad_fraction must be in [0, 0.5), got {bad_fraction!r}")
    if n_normal + n_green_pea + n_red_spiral == 0:
        raise ValueError("the survey needs at least one galaxy")
    rng = np.random.default_rng([seed, 3])

    z, parent = _sample_redshift(rng, n_normal)
    band = np.array([BANDS.index(PARENT_SAMPLES[p]["band"]) for p in parent], int)
    limit = np.array([PARENT_SAMPLES[p]["limit"] for p in parent], float)
    bright = np.stack([np.interp(z, _Z_GRID, _brightest_mag_per_mass()[:, b]) for b in range(3)], 1)
    lower = np.maximum(8.0, 10 - (limit - bright[np.arange(n_normal), band]) / 2.5 - 0.2)
    props = {k: np.empty(n_normal, dtype=v.dtype) for k, v in
             _normal_properties(rng, z[:1], lower[:1]).items()}
    todo = np.arange(n_normal)
    for _ in range(max_rounds):
        if todo.size == 0:
            break
        draw = _normal_properties(rng, z[todo], lower[todo])
        for k, v in draw.items():
            props[k][todo] = v
        logssfr = props["logsfr"][todo] - props["logmstar"][todo]
        coeffs = sed_coefficients(logssfr, props["ew_ha"][todo], props["ew_o3"][todo])
        flux, _ = observed_fluxes(z[todo], props["logmstar"][todo], props["a_v"][todo], coeffs)
        re_arcsec = kpc_to_pixels(props["size_kpc"][todo], z[todo]) * PIXEL_SCALE
        sb_r = nmgy_to_mag(flux[:, 1] / 2) + 2.5 * np.log10(np.pi * re_arcsec**2)
        mag = nmgy_to_mag(flux[np.arange(todo.size), band[todo]])
        todo = todo[(mag > limit[todo]) | (sb_r > sb_limit_r)]
        lower[todo] = np.minimum(lower[todo] + 0.01, 11.8)  # the rare misses near z = 1 converge
    else:
        raise RuntimeError(f"{todo.size} galaxies never passed their parent sample's magnitude "
                           f"limit and mu_e,r < {sb_limit_r} mag/arcsec2")
    props["z"] = z
    props["parent"] = parent
    parts = [pd.DataFrame({**props, "class": "normal"})]
    for cls, n in (("green_pea", n_green_pea), ("red_spiral", n_red_spiral)):
        if n:
            parts.append(pd.DataFrame({**_rare_properties(rng, cls, n), "class": cls}))
    cat = pd.concat(parts, ignore_index=True)
    cat = cat.iloc[rng.permutation(len(cat))].reset_index(drop=True)
    return _finish_catalog(cat, rng, bad_fraction)


def _finish_catalog(cat: pd.DataFrame, rng: np.random.Generator, bad_fraction: float) -> pd.DataFrame:
    """Shapes, fluxes, reported values with errors, defects; returns the contract's column set."""
    n = len(cat)
    z, logm, logsfr = (cat[c].to_numpy(float) for c in ("z", "logmstar", "logsfr"))
    logssfr = logsfr - logm
    ew_ha, ew_o3, a_v = (cat[c].to_numpy(float) for c in ("ew_ha", "ew_o3", "a_v"))
    cos_i = cat["cos_i"].to_numpy(float)
    flux, gr_rest = observed_fluxes(z, logm, a_v, sed_coefficients(logssfr, ew_ha, ew_o3))

    bt = cat["bt"].to_numpy(float)
    q0 = np.where(logm < 9.5, 0.25, 0.15)  # intrinsic thickness: low-mass disks are thicker
    q_disk = np.sqrt(cos_i**2 * (1 - q0**2) + q0**2)
    elliptical = bt > 0.7
    q_bulge = np.where(elliptical, np.clip(rng.normal(0.72, 0.15, n), 0.35, 1.0),
                       rng.uniform(0.65, 1.0, n))
    re = cat["size_kpc"].to_numpy(float)
    re_px = kpc_to_pixels(re, z)
    n_bulge = np.clip(2.0 + 0.7 * (logm - 9.5) + 0.4 * rng.standard_normal(n), 1.5, 5.5)
    orientation = rng.uniform(-np.pi / 2, np.pi / 2, n)

    # reported ("SED-fit") values: errors grow toward faint magnitudes; passive SFRs are poorly known
    faint = np.clip((nmgy_to_mag(flux[:, 1]) - 17.0) / 5.0, 0, 1.2)
    quenched = cat["quenched"].to_numpy(bool)
    sig_m = 0.08 + 0.1 * faint
    sig_sfr = np.clip(0.2 + 0.12 * faint + 0.15 * quenched, 0.2, 0.45)
    sig_z = 1e-4 * (1 + z) * rng.uniform(0.5, 2.0, n)
    defect = np.full(n, "", dtype=object)
    n_bad = int(round(bad_fraction * n))
    if n_bad:
        bad_rows = rng.choice(np.flatnonzero(cat["class"].to_numpy() == "normal"),
                              size=min(n_bad, int((cat["class"] == "normal").sum())), replace=False)
        defect[bad_rows] = np.where(rng.random(bad_rows.size) < 0.6, "missing_band", "bright_star")

    ra_lo, ra_hi = SKY_PATCH["ra"]
    s_lo, s_hi = np.sin(np.radians(SKY_PATCH["dec"]))
    out = pd.DataFrame({
        "id": np.int64(100_000_000) + np.arange(n, dtype=np.int64),
        "ra": rng.uniform(ra_lo, ra_hi, n),
        "dec": np.degrees(np.arcsin(rng.uniform(s_lo, s_hi, n))),
        "class": cat["class"].to_numpy(),
        "z": np.clip(z + sig_z * rng.standard_normal(n), 1e-4, None), "z_err": sig_z,
        "logmstar": logm + sig_m * rng.standard_normal(n),
        "logmstar_err": sig_m * np.clip(np.exp(0.15 * rng.standard_normal(n)), 0.7, 1.4),
        "logsfr": logsfr + sig_sfr * rng.standard_normal(n),
        "logsfr_err": sig_sfr * np.clip(np.exp(0.15 * rng.standard_normal(n)), 0.7, 1.4),
        "true_z": z, "true_logmstar": logm, "true_logsfr": logsfr, "true_logssfr": logssfr,
        "true_quenched": quenched, "true_orientation": orientation,
        "true_axis_ratio": np.where(elliptical, q_bulge, q_disk), "true_q_disk": q_disk,
        "true_q_bulge": q_bulge, "true_re_kpc": re, "true_re_arcsec": re_px * PIXEL_SCALE,
        "true_re_px": re_px, "true_bt": bt, "true_n_bulge": n_bulge,
        "true_arm_amplitude": cat["arm_amplitude"].to_numpy(float),
        "true_arms_blue": cat["arms_blue"].to_numpy(bool),
        "true_av": a_v, "true_ew_halpha": ew_ha, "true_ew_oiii": ew_o3, "true_gr_rest": gr_rest,
        "true_cx": 63.5 + np.clip(rng.normal(0, 0.3, n), -1, 1),
        "true_cy": 63.5 + np.clip(rng.normal(0, 0.3, n), -1, 1),
        "true_defect": defect,
        "true_parent": cat["parent"].fillna("literature").to_numpy(),
    })
    for b, band in enumerate(BANDS):
        out[f"true_flux_{band}"] = flux[:, b]
        out[f"true_mag_{band}"] = nmgy_to_mag(flux[:, b])
    return out


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def _moffat_alpha(fwhm_px: float, beta: float) -> float:
    return fwhm_px / (2 * np.sqrt(2 ** (1 / beta) - 1))


def moffat_psf(size: int, fwhm_px: float, beta: float = MOFFAT_BETA, centred: bool = True) -> np.ndarray:
    """Unit-sum Moffat PSF on a size×size grid (centred, or at pixel (0, 0) with wrap for FFTs)."""
    alpha = _moffat_alpha(fwhm_px, beta)
    c = np.arange(size) - (size // 2 if centred else 0)
    if not centred:
        c = np.where(c >= size / 2, c - size, c)
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    p = (1 + r2 / alpha**2) ** -beta
    return p / p.sum()


@functools.lru_cache(maxsize=8)
def _otf(size: int) -> np.ndarray:
    from scipy import fft

    return fft.rfft2(moffat_psf(size, PSF_FWHM_ARCSEC / PIXEL_SCALE, centred=False)).astype(np.complex64)


def noise_sigma_per_pixel() -> dict[str, float]:
    """Sky σ per pixel [nmgy] such that a PSF-fit point source at the 5σ depth has S/N = 5.

    For a PSF-weighted flux on sky-limited noise, σ_flux = σ_pix · sqrt(NEA), NEA = 1 / Σ psf²."""
    psf = moffat_psf(CUTOUT_SIZE, PSF_FWHM_ARCSEC / PIXEL_SCALE)
    nea = 1.0 / np.sum(psf**2)
    return {b: float(10 ** (-0.4 * (DEPTH_5SIGMA[b] - 22.5)) / 5 / np.sqrt(nea)) for b in BANDS}


def _sersic_b(n: np.ndarray) -> np.ndarray:
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n**2)


def _stamp_size(extent_px: np.ndarray) -> np.ndarray:
    return np.select([extent_px < 16, extent_px < 32], [32, 64], 128)


def _galaxy_stamps(rows: dict, size: int) -> np.ndarray:
    """(B, 3, size, size) PSF-convolved noiseless galaxy images [nmgy], centred in the stamp."""
    from scipy import fft

    f32 = np.float32
    c = np.arange(size, dtype=f32)
    off = (CUTOUT_SIZE - size) / 2
    dx = c[None, None, :] - (rows["true_cx"] - off).astype(f32)[:, None, None]
    dy = c[None, :, None] - (rows["true_cy"] - off).astype(f32)[:, None, None]
    phi = rows["true_orientation"]
    cp, sp = np.cos(phi).astype(f32)[:, None, None], np.sin(phi).astype(f32)[:, None, None]
    u = dx * cp + dy * sp  # along the major axis
    v = dy * cp - dx * sp
    del dx, dy

    def col(name):
        return rows[name].astype(f32)[:, None, None]

    bt = rows["true_bt"]
    re = np.maximum(rows["true_re_px"], 0.3)
    re_disk = (re * (1 + 0.3 * bt)).astype(f32)[:, None, None]
    re_bulge = (re * (0.25 + 0.6 * bt)).astype(f32)[:, None, None]

    v_d = v / col("true_q_disk")
    r_disk = np.sqrt(u * u + v_d * v_d) / re_disk
    disk = np.exp(-1.678 * r_disk) * np.clip(TRUNCATION_RE - r_disk, 0, 1)
    arms = np.zeros_like(disk)
    a = np.flatnonzero(rows["true_arm_amplitude"] > 0)  # log-spiral arms only where there are some
    if a.size:
        r_a = np.maximum(r_disk[a], 1e-3)
        phase = 2 * (np.arctan2(v_d[a], u[a]) - np.log(r_a) / np.float32(np.tan(np.radians(18.0))))
        arms[a] = (disk[a] * col("true_arm_amplitude")[a] * np.cos(phase)
                   * (1 - np.exp(-4 * r_a * r_a)))
    del v_d, r_disk

    bulge = np.zeros_like(disk)
    bb = np.flatnonzero(rows["true_bt"] > 0)
    if bb.size:
        v_b = v[bb] / col("true_q_bulge")[bb]
        rb2 = (u[bb] * u[bb] + v_b * v_b) / re_bulge[bb] ** 2
        n_b = rows["true_n_bulge"][bb].astype(f32)[:, None, None]
        bulge[bb] = (np.exp(-_sersic_b(n_b) * (np.exp(np.log(np.maximum(rb2, 1e-8)) / (2 * n_b)) - 1))
                     * np.clip(TRUNCATION_RE - np.sqrt(rb2), 0, 1))
    del u, v

    disk_sum = np.maximum(disk.sum((1, 2), keepdims=True), 1e-20)
    disk /= disk_sum
    arms /= disk_sum  # arms modulate the unit-flux disk (they average to ~0)
    bulge /= np.maximum(bulge.sum((1, 2), keepdims=True), 1e-20)
    flux = np.stack([rows[f"true_flux_{b}"] for b in BANDS], 1).astype(f32)  # (B, 3)
    arm_colour = np.where(rows["true_arms_blue"][:, None], np.array([1.4, 1.0, 0.7], f32),
                          np.ones(3, f32)).astype(f32)
    fb = (flux * bt.astype(f32)[:, None])[:, :, None, None]
    fd = (flux * (1 - bt).astype(f32)[:, None])[:, :, None, None]
    img = fb * bulge[:, None] + fd * (disk[:, None] + arm_colour[:, :, None, None] * arms[:, None])
    img = fft.irfft2(fft.rfft2(img, workers=1) * _otf(size), s=(size, size), workers=1)
    return img.astype(f32)


def _add_neighbours(images: np.ndarray, rng: np.random.Generator) -> None:
    """Faint field sources (stars and small galaxies) away from the target, 0–3 per cutout."""
    b, half = images.shape[0], 12
    psf_sigma = PSF_FWHM_ARCSEC / PIXEL_SCALE / 2.3548
    counts = np.minimum(rng.poisson(0.8, b), N_NEIGHBOUR_SLOTS)
    grid = np.arange(-half, half + 1, dtype=np.float32)
    for slot in range(N_NEIGHBOUR_SLOTS):
        present = counts > slot
        ang = rng.uniform(0, 2 * np.pi, b)
        dist = rng.uniform(16, 58, b)
        x = np.clip(63.5 + dist * np.cos(ang), half, CUTOUT_SIZE - 1 - half)
        y = np.clip(63.5 + dist * np.sin(ang), half, CUTOUT_SIZE - 1 - half)
        x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
        sig = psf_sigma * rng.uniform(1.0, 1.8, b)
        gx = grid[None, :] - (x - x0)[:, None]
        gy = grid[None, :] - (y - y0)[:, None]
        prof = np.exp(-0.5 * (gy[:, :, None] ** 2 + gx[:, None, :] ** 2) / sig[:, None, None] ** 2)
        prof /= prof.sum((1, 2), keepdims=True)
        r_mag = rng.uniform(20.5, 24.5, b)
        colours = np.stack([rng.uniform(0.2, 1.5, b), np.zeros(b), -rng.uniform(0.1, 1.0, b)], 1)
        flux = 10 ** (-0.4 * (r_mag[:, None] + colours - 22.5)) * present[:, None]
        yy = (y0[:, None, None] + grid.astype(int)[None, :, None])
        xx = (x0[:, None, None] + grid.astype(int)[None, None, :])
        bi = np.arange(b)[:, None, None]
        for k in range(len(BANDS)):
            images[bi, k, yy, xx] += (flux[:, k, None, None] * prof).astype(np.float32)


def _add_bright_star(images: np.ndarray, rng: np.random.Generator) -> None:
    """A saturated foreground star 6–20 px from the target (the images are clipped later)."""
    b = images.shape[0]
    ang, dist = rng.uniform(0, 2 * np.pi, b), rng.uniform(6, 20, b)
    x, y = 63.5 + dist * np.cos(ang), 63.5 + dist * np.sin(ang)
    c = np.arange(CUTOUT_SIZE, dtype=np.float32)
    alpha = _moffat_alpha(PSF_FWHM_ARCSEC / PIXEL_SCALE, MOFFAT_BETA)
    r2 = (c[None, None, :] - x[:, None, None]) ** 2 + (c[None, :, None] - y[:, None, None]) ** 2
    prof = (1 + r2 / alpha**2) ** -MOFFAT_BETA
    prof *= (MOFFAT_BETA - 1) / (np.pi * alpha**2)
    r_mag = rng.uniform(9.5, 11.5, b)
    colours = np.array([0.5, 0.0, -0.3])
    for k in range(len(BANDS)):
        images[:, k] += (10 ** (-0.4 * (r_mag + colours[k] - 22.5)))[:, None, None] * prof


def render_cutouts(catalog: pd.DataFrame, rng: np.random.Generator, noise: bool = True,
                   neighbours: bool = True) -> np.ndarray:
    """Render catalog rows into (N, 3, 128, 128) float32 grz cutouts [nmgy].

    Galaxies are rendered on the smallest centred stamp (32/64/128 px) that holds 3.8 R_e of their
    largest component, PSF-convolved by FFT in batches, then placed into blank cutouts; noise,
    neighbours and defects (missing band → zeros, bright star → saturated plateau) follow.
    """
    n = len(catalog)
    rows = {c: catalog[c].to_numpy() for c in catalog.columns}
    images = np.zeros((n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), np.float32)
    re = rows["true_re_px"] * (1 + 0.3 * rows["true_bt"])
    sizes = _stamp_size(TRUNCATION_RE * re + 5)
    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        sub = {k: v[idx] for k, v in rows.items()}
        lo = (CUTOUT_SIZE - size) // 2
        images[idx, :, lo:lo + size, lo:lo + size] = _galaxy_stamps(sub, int(size))
    star = rows["true_defect"] == "bright_star"
    if star.any():
        images[star] = images[star] + _star_layer(int(star.sum()), rng)
    if neighbours:
        _add_neighbours(images, rng)
    if noise:
        sky = np.array([noise_sigma_per_pixel()[b] for b in BANDS], np.float32)[None, :, None, None]
        sigma = np.maximum(images, 0)
        sigma *= np.float32(1 / ELECTRONS_PER_NMGY)  # source shot noise variance
        sigma += sky**2
        np.sqrt(sigma, out=sigma)
        sigma *= rng.standard_normal(images.shape, dtype=np.float32)
        images += sigma
        del sigma
    np.minimum(images, SATURATION_NMGY, out=images)
    missing = np.flatnonzero(rows["true_defect"] == "missing_band")
    if missing.size:
        images[missing, rng.integers(0, len(BANDS), missing.size)] = 0.0
    return images


def _star_layer(n: int, rng: np.random.Generator) -> np.ndarray:
    layer = np.zeros((n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), np.float32)
    _add_bright_star(layer, rng)
    return layer


# --------------------------------------------------------------------------------------------
# Writing and reading
# --------------------------------------------------------------------------------------------
CONTRACT_COLUMNS = ("id", "ra", "dec", "class", "z", "z_err", "logmstar", "logmstar_err",
                    "logsfr", "logsfr_err")
PAPER_COUNTS = {"normal": 26126, "green_pea": 13, "red_spiral": 294}  # paper A §2


def write_survey(out_dir: Path | str, n_normal: int, n_green_pea: int, n_red_spiral: int,
                 bad_fraction: float, seed: int, chunk: int = RENDER_CHUNK) -> dict:
    """Generate the survey and stream it to ``out_dir``/cutouts.h5 + catalog.parquet (atomic).

    Only one chunk of cutouts is in memory at a time. Deterministic per ``seed``: chunk ``k`` uses
    the noise stream ``[seed, 7, k]``, so pass the default chunk size to reproduce a survey.
    """
    import h5py

    from raregal.core.outputs import atomic_path

    out_dir = Path(out_dir)
    cat = sample_catalog(n_normal, n_green_pea, n_red_spiral, bad_fraction, seed)
    n = len(cat)
    with atomic_path(out_dir / "cutouts.h5") as tmp:
        with h5py.File(tmp, "w") as h5:
            ds = h5.create_dataset("images", (n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), "f4",
                                   chunks=(min(16, n), len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE))
            h5.create_dataset("id", data=cat["id"].to_numpy(np.int64))
            ds.attrs.update({"bands": ",".join(BANDS), "units": "nanomaggies",
                             "pixel_scale_arcsec": PIXEL_SCALE, "source": "mock", "seed": seed})
            for k, start in enumerate(range(0, n, chunk)):
                part = cat.iloc[start:start + chunk]
                ds[start:start + len(part)] = render_cutouts(part, np.random.default_rng([seed, 7, k]))
    with atomic_path(out_dir / "catalog.parquet") as tmp:
        cat.to_parquet(tmp, index=False)
    return {"cutouts": out_dir / "cutouts.h5", "catalog": out_dir / "catalog.parquet", "n": n}


def write_survey_for(cfg: "RunConfig") -> dict:
    """Notebook entry point: the profile's sizes into ``cfg.data_dir("interim", "survey_a")``."""
    s = cfg.survey_a
    return write_survey(cfg.data_dir("interim", "survey_a"), s.n_normal, s.n_green_pea,
                        s.n_red_spiral, s.bad_fraction, cfg.seed)


def summary_table(catalog: pd.DataFrame) -> pd.DataFrame:
    """Long-format counts per class (ours vs paper) plus bad cutouts and redshift ranges."""
    rows = []
    for cls in CLASSES:
        sel = catalog["class"] == cls
        rows.append({"class": cls, "quantity": "count", "ours": int(sel.sum()),
                     "paper": PAPER_COUNTS[cls]})
        rows.append({"class": cls, "quantity": "median z", "ours": float(catalog.loc[sel, "z"].median())
                     if sel.any() else np.nan, "paper": np.nan})
        rows.append({"class": cls, "quantity": "median log M*",
                     "ours": float(catalog.loc[sel, "logmstar"].median()) if sel.any() else np.nan,
                     "paper": np.nan})
    if "true_defect" in catalog:
        for defect in DEFECTS[1:]:
            rows.append({"class": "all", "quantity": f"bad cutouts: {defect}",
                         "ours": int((catalog["true_defect"] == defect).sum()),
                         "paper": 5 if defect == "missing_band" else np.nan})
    rows.append({"class": "all", "quantity": "count", "ours": len(catalog),
                 "paper": sum(PAPER_COUNTS.values())})
    return pd.DataFrame(rows)
