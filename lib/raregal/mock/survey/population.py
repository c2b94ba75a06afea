"""Who is in the paper A mock survey: redshift, stellar mass, SFR, morphology, dust and lines of
normal galaxies and of the two rare classes, then shapes, reported values and bad cutouts.

Why: the anomaly search of Gagliano & Villar (2023) must be scored against ground truth, so the
population is physically grounded — two parent samples like the paper's (70 % GAMA-like, r < 19.8;
30 % deep-field to z ≈ 1, z-band < 21.0), a Schechter mass function conditioned on the parent's
magnitude limit and on mean r surface brightness < 24.5 mag/arcsec², the Speagle et al. (2014) main
sequence with a mass- and z-dependent quenched fraction, mass–size relations of van der Wel et al.
(2014), and rare Green Peas (Cardamone et al. 2009) and passive Red Spirals. Reported values are
truth + SED-fit-like errors; truth stays in ``true_*`` columns.

Every draw comes from one generator in a fixed order, so a seed gives the same catalog.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from raregal.mock.survey.instrument import BANDS, PIXEL_SCALE
from raregal.mock.survey.photometry import (
    brightest_mags,
    cosmic_age_gyr,
    kpc_to_pixels,
    nmgy_to_mag,
    observed_fluxes,
    sed_coefficients,
)

CLASSES = ("normal", "green_pea", "red_spiral")
DEFECTS = ("", "missing_band", "bright_star")
# The paper's sample joins GAMA DR4 (bright, low z) and the Zou et al. 2022 deep fields (to z ≈ 1):
# each normal galaxy belongs to one parent survey with its own magnitude limit (true magnitude).
PARENT_SAMPLES = {"gama": {"fraction": 0.7, "band": "r", "limit": 19.8},
                  "deep": {"fraction": 0.3, "band": "z", "limit": 21.0}}
SB_LIMIT_R = 24.5  # and mean r-band surface brightness within R_e [mag/arcsec²] (SDSS MGS-like)
SKY_PATCH = {"ra": (129.0, 141.0), "dec": (-2.0, 3.0)}  # a GAMA-like equatorial field

# Speagle et al. 2014 main sequence, quenched fraction, Schechter mass function.
SCHECHTER = {"logm_star": 10.75, "alpha": -1.3}
MS_SCATTER = 0.3
QUENCHED_LOGSSFR, QUENCHED_SCATTER = -11.7, 0.4  # at z = 0, rising by 0.5 dex per unit z


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
    """log M* from the Schechter mass function, truncated below at ``lower`` (per galaxy)."""
    x = np.linspace(7.5, 12.0, 4000)
    xs, a = SCHECHTER["logm_star"], SCHECHTER["alpha"]
    pdf = 10 ** ((a + 1) * (x - xs)) * np.exp(-(10 ** (x - xs)))
    cdf = np.concatenate([[0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]))])
    cdf /= cdf[-1]
    lo = np.interp(np.clip(lower, x[0], x[-1] - 0.2), x, cdf)
    return np.interp(lo + (1 - lo) * rng.random(lower.size), cdf, x)


def _normal_properties(rng: np.random.Generator, z: np.ndarray, lower: np.ndarray) -> dict:
    """M*, SFR (main sequence or quenched), bulge fraction, arms, dust and size of normal galaxies."""
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


def _rare_properties(rng: np.random.Generator, cls: str, n: int) -> dict:
    """Green Peas (compact, low mass, log sSFR ≈ −8.2, 0.11 < z < 0.35) or Red Spirals (massive,
    passive, extended face-on disks with arms, z < 0.09)."""
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


def _check_sizes(n_normal: int, n_green_pea: int, n_red_spiral: int, bad_fraction: float) -> None:
    for name, v in (("n_normal", n_normal), ("n_green_pea", n_green_pea),
                    ("n_red_spiral", n_red_spiral)):
        if int(v) != v or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
    if not 0 <= bad_fraction < 0.5:
        raise ValueError(f"bad_fraction must be in [0, 0.5), got {bad_fraction!r}")
    if n_normal + n_green_pea + n_red_spiral == 0:
        raise ValueError("the survey needs at least one galaxy")


def sample_catalog(n_normal: int, n_green_pea: int, n_red_spiral: int, bad_fraction: float,
                   seed: int, sb_limit_r: float = SB_LIMIT_R, max_rounds: int = 300) -> pd.DataFrame:
    """Draw the whole survey catalog (truth + reported values), rows shuffled, ids unique.

    Parameters
    ----------
    n_normal, n_green_pea, n_red_spiral : galaxies per class (non-negative integers, not all 0).
    bad_fraction : fraction of all rows (drawn among normal galaxies) given a bad cutout, in [0, 0.5).
    seed : the catalog uses the stream ``[seed, 3]``.
    sb_limit_r : mean r-band surface-brightness limit within R_e [mag/arcsec²].
    max_rounds : redraws allowed before a galaxy that never passes its limits is an error.

    Returns
    -------
    DataFrame with the contract columns (``id, ra, dec, class, z, z_err, logmstar [log10 M☉],
    logmstar_err, logsfr [log10 M☉/yr], logsfr_err``), the truth in ``true_*`` columns and
    ``true_flux_<band>`` [nmgy], ``true_mag_<band>`` [AB].
    """
    _check_sizes(n_normal, n_green_pea, n_red_spiral, bad_fraction)
    rng = np.random.default_rng([seed, 3])
    props = _flux_limited_normals(rng, n_normal, sb_limit_r, max_rounds)
    parts = [pd.DataFrame({**props, "class": "normal"})]
    for cls, n in (("green_pea", n_green_pea), ("red_spiral", n_red_spiral)):
        if n:
            parts.append(pd.DataFrame({**_rare_properties(rng, cls, n), "class": cls}))
    cat = pd.concat(parts, ignore_index=True)
    cat = cat.iloc[rng.permutation(len(cat))].reset_index(drop=True)
    return _finish_catalog(cat, rng, bad_fraction)


def _flux_limited_normals(rng: np.random.Generator, n_normal: int, sb_limit_r: float,
                          max_rounds: int) -> dict:
    """Normal galaxies of a flux- and surface-brightness-limited spectroscopic sample.

    Parent sample and z come from the prior, then M* (and everything that depends on it) is redrawn
    until the galaxy passes its parent's magnitude limit (``PARENT_SAMPLES``) and its mean r-band
    surface brightness within R_e passes ``sb_limit_r``.
    """
    z, parent = _sample_redshift(rng, n_normal)
    band = np.array([BANDS.index(PARENT_SAMPLES[p]["band"]) for p in parent], int)
    limit = np.array([PARENT_SAMPLES[p]["limit"] for p in parent], float)
    bright = brightest_mags(z)
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
    return props


def _finish_catalog(cat: pd.DataFrame, rng: np.random.Generator, bad_fraction: float) -> pd.DataFrame:
    """Shapes, fluxes, reported values with errors, defects; returns the contract's column set.

    The helpers draw from ``rng`` in the order they are called here; keep it, or a seed changes
    its survey.
    """
    n = len(cat)
    z, logm, logsfr = (cat[c].to_numpy(float) for c in ("z", "logmstar", "logsfr"))
    logssfr = logsfr - logm
    ew_ha, ew_o3, a_v = (cat[c].to_numpy(float) for c in ("ew_ha", "ew_o3", "a_v"))
    flux, gr_rest = observed_fluxes(z, logm, a_v, sed_coefficients(logssfr, ew_ha, ew_o3))
    shapes = _shape_columns(cat, rng)
    quenched = cat["quenched"].to_numpy(bool)
    sigmas = _reported_errors(flux, z, quenched, rng)
    defect = _draw_defects(cat["class"].to_numpy(), bad_fraction, rng)
    out = pd.DataFrame({
        **_reported_columns(cat, sigmas, rng),
        "true_z": z, "true_logmstar": logm, "true_logsfr": logsfr, "true_logssfr": logssfr,
        "true_quenched": quenched, **shapes,
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


def _shape_columns(cat: pd.DataFrame, rng: np.random.Generator) -> dict:
    """Disk and bulge axis ratios (thick low-mass disks), Sérsic index, R_e, orientation [rad]."""
    n = len(cat)
    logm, z = cat["logmstar"].to_numpy(float), cat["z"].to_numpy(float)
    cos_i = cat["cos_i"].to_numpy(float)
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
    return {"true_orientation": orientation, "true_axis_ratio": np.where(elliptical, q_bulge, q_disk),
            "true_q_disk": q_disk, "true_q_bulge": q_bulge, "true_re_kpc": re,
            "true_re_arcsec": re_px * PIXEL_SCALE, "true_re_px": re_px, "true_bt": bt,
            "true_n_bulge": n_bulge}


def _reported_errors(flux: np.ndarray, z: np.ndarray, quenched: np.ndarray,
                     rng: np.random.Generator) -> dict:
    """1σ errors of the reported ("SED-fit") values: they grow toward faint magnitudes; passive
    SFRs are poorly known; spectroscopic z errors."""
    faint = np.clip((nmgy_to_mag(flux[:, 1]) - 17.0) / 5.0, 0, 1.2)
    return {"logmstar": 0.08 + 0.1 * faint,
            "logsfr": np.clip(0.2 + 0.12 * faint + 0.15 * quenched, 0.2, 0.45),
            "z": 1e-4 * (1 + z) * rng.uniform(0.5, 2.0, z.size)}


def _draw_defects(classes: np.ndarray, bad_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """'' or the defect of each cutout: ``bad_fraction`` of all rows, drawn among normal galaxies,
    60 % missing a band, the rest with a bright star beside the target."""
    defect = np.full(classes.size, "", dtype=object)
    n_bad = int(round(bad_fraction * classes.size))
    if n_bad:
        normal = np.flatnonzero(classes == "normal")
        bad_rows = rng.choice(normal, size=min(n_bad, normal.size), replace=False)
        defect[bad_rows] = np.where(rng.random(bad_rows.size) < 0.6, "missing_band", "bright_star")
    return defect


def _reported_columns(cat: pd.DataFrame, sigma: dict, rng: np.random.Generator) -> dict:
    """The contract columns: id, sky position in ``SKY_PATCH`` (uniform on the sphere), class, and
    reported z, log M*, log SFR = truth + their errors, each error itself known to ±15 %."""
    n = len(cat)
    z, logm, logsfr = (cat[c].to_numpy(float) for c in ("z", "logmstar", "logsfr"))
    ra_lo, ra_hi = SKY_PATCH["ra"]
    s_lo, s_hi = np.sin(np.radians(SKY_PATCH["dec"]))
    return {
        "id": np.int64(100_000_000) + np.arange(n, dtype=np.int64),
        "ra": rng.uniform(ra_lo, ra_hi, n),
        "dec": np.degrees(np.arcsin(rng.uniform(s_lo, s_hi, n))),
        "class": cat["class"].to_numpy(),
        "z": np.clip(z + sigma["z"] * rng.standard_normal(n), 1e-4, None), "z_err": sigma["z"],
        "logmstar": logm + sigma["logmstar"] * rng.standard_normal(n),
        "logmstar_err": sigma["logmstar"] * np.clip(np.exp(0.15 * rng.standard_normal(n)), 0.7, 1.4),
        "logsfr": logsfr + sigma["logsfr"] * rng.standard_normal(n),
        "logsfr_err": sigma["logsfr"] * np.clip(np.exp(0.15 * rng.standard_normal(n)), 0.7, 1.4),
    }
