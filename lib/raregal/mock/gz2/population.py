"""Who is in the paper B mock: the true GZ2 morphology of each galaxy (a walk down the GZ2 decision
tree) and its physical properties (z, r mag, log M*, log SFR, log halo mass, size, seeing).

Why: the classifiers and the D-ETG search of Ma et al. (2025) are scored against this truth, so the
tree frequencies are tuned to the paper's positive fractions (§4.2: spiral 0.43, edge-on disk 0.09,
bar 0.10, bulge 0.07), the sample is flux-limited at r < 17.0 like the GZ2 main sample (Willett et
al. 2013), and D-ETGs (early type + dust lane) are star-forming early types in field/group halos.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Morphology frequencies, tuned so the classifier tasks' positive fractions match Ma et al. (2025)
# §4.2: spiral 0.43, edge-on disk 0.09, bar 0.10, bulge 0.07.
FREQUENCIES = {
    "class": {"smooth": 0.42, "features": 0.572, "star_or_artifact": 0.008},
    "roundness": {"completely_round": 0.40, "in_between": 0.45, "cigar_shaped": 0.15},
    "edge_on": 0.17,  # of featured galaxies
    "bulge_shape": {"rounded": 0.5, "boxy": 0.1, "no_bulge": 0.4},  # of edge-on disks
    "spiral": 0.90,  # of face-on featured galaxies
    "irregular": 0.30,  # of face-on featured galaxies without arms
    "bar": 0.21,  # of face-on disks (not irregulars)
    "bulge_prominence": {"no_bulge": 0.15, "just_noticeable": 0.70, "obvious": 0.12, "dominant": 0.03},
    "winding": {"tight": 0.30, "medium": 0.45, "loose": 0.25},
    "arms": {1: 0.06, 2: 0.52, 3: 0.20, 4: 0.12, 5: 0.10},  # 5 = "more than 4"
    # odd features per class (single choice); D-ETG dust lanes come from detg_fraction
    "odd": {
        "smooth": {"ring": 0.010, "lens_or_arc": 0.006, "disturbed": 0.015, "other": 0.015,
                   "merger": 0.030},
        "face_on": {"ring": 0.035, "lens_or_arc": 0.006, "disturbed": 0.030, "other": 0.015,
                    "merger": 0.030, "dust_lane": 0.010},
        "edge_on": {"lens_or_arc": 0.004, "disturbed": 0.020, "other": 0.015, "merger": 0.020,
                    "dust_lane": 0.25},
    },
}
PITCH_DEG = {"tight": (8.0, 13.0), "medium": (15.0, 22.0), "loose": (26.0, 36.0)}
BULGE_BT = {"no_bulge": (0.0, 0.02), "just_noticeable": (0.08, 0.15), "obvious": (0.25, 0.40),
            "dominant": (0.55, 0.75)}
EDGE_BULGE_BT = {"rounded": (0.25, 0.40), "boxy": (0.25, 0.38), "no_bulge": (0.0, 0.0)}
R_LIMIT = 17.0  # GZ2 main (original) sample, Willett et al. 2013


def _choice(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    """``n`` keys of ``table`` drawn with probabilities proportional to its values."""
    keys = list(table)
    p = np.array([table[k] for k in keys], float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def sample_morphology(n: int, rng: np.random.Generator, detg_fraction: float) -> pd.DataFrame:
    """Truth of every GZ2 feature, drawn by walking the tree with ``FREQUENCIES``.

    Parameters
    ----------
    n : galaxies.
    rng : the catalog's generator (draws in a fixed order: tree answers, axis ratio, B/T, pitch, PA).
    detg_fraction : fraction of all galaxies that are early types with a dust lane (D-ETGs).

    Returns
    -------
    DataFrame of ``true_*`` columns: class, roundness, edge_on, bulge_shape, bar, spiral, winding,
    arms, pitch_deg [deg], bulge_prominence, bt (bulge-to-total), odd_feature, odd, dust_lane, detg,
    axis_ratio, pa_deg [deg, in (-90, 90)].
    """
    t = _walk_tree(n, rng, detg_fraction)
    q = _axis_ratio(t, rng)
    bt, pitch = _bulge_fraction_and_pitch(t, rng)
    return pd.DataFrame({
        "true_class": t["class"].astype(str), "true_roundness": t["roundness"].astype(str),
        "true_edge_on": t["edge"], "true_bulge_shape": t["bulge_shape"].astype(str),
        "true_bar": t["bar"], "true_spiral": t["spiral"], "true_winding": t["winding"].astype(str),
        "true_arms": t["arms"], "true_pitch_deg": pitch,
        "true_bulge_prominence": t["prominence"].astype(str), "true_bt": bt,
        "true_odd_feature": t["odd"].astype(str), "true_odd": t["odd"] != "none",
        "true_dust_lane": t["odd"] == "dust_lane", "true_detg": t["smooth"] & (t["odd"] == "dust_lane"),
        "true_axis_ratio": q, "true_pa_deg": rng.uniform(-90, 90, n),
    })


def _walk_tree(n: int, rng: np.random.Generator, detg_fraction: float) -> dict[str, np.ndarray]:
    """The true answer of every GZ2 task ("none" / 0 off the galaxy's path) and the class masks."""
    f = FREQUENCIES
    cls = _choice(rng, f["class"], n)
    smooth, feat = cls == "smooth", cls == "features"
    edge = feat & (rng.random(n) < f["edge_on"])
    face = feat & ~edge
    spiral = face & (rng.random(n) < f["spiral"])
    irregular = face & ~spiral & (rng.random(n) < f["irregular"])
    disk = face & ~irregular
    bar = disk & (rng.random(n) < f["bar"])
    roundness = np.where(smooth, _choice(rng, f["roundness"], n), "none")
    bulge_shape = np.where(edge, _choice(rng, f["bulge_shape"], n), "none")
    prominence = np.where(disk, _choice(rng, f["bulge_prominence"], n),
                          np.where(irregular, "no_bulge", np.where(smooth, "dominant", "none")))
    winding = np.where(spiral, _choice(rng, f["winding"], n), "none")
    arms = np.where(spiral, _choice(rng, f["arms"], n), 0).astype(int)
    odd = _odd_features(rng, smooth, disk, edge, detg_fraction)
    odd[irregular] = "irregular"
    return {"class": cls, "smooth": smooth, "edge": edge, "face": face, "spiral": spiral,
            "irregular": irregular, "disk": disk, "bar": bar, "roundness": roundness,
            "bulge_shape": bulge_shape, "prominence": prominence, "winding": winding, "arms": arms,
            "odd": odd}


def _odd_features(rng: np.random.Generator, smooth: np.ndarray, disk: np.ndarray, edge: np.ndarray,
                  detg_fraction: float) -> np.ndarray:
    """One odd feature (or "none") per galaxy; smooth galaxies get dust lanes at ``detg_fraction``."""
    f = FREQUENCIES
    odd = np.full(smooth.size, "none", dtype=object)
    for group, mask in (("smooth", smooth), ("face_on", disk), ("edge_on", edge)):
        table = dict(f["odd"][group])
        if group == "smooth":
            p_smooth = f["class"]["smooth"] / sum(f["class"].values())
            table["dust_lane"] = detg_fraction / p_smooth
        table["none"] = 1.0 - sum(table.values())
        if table["none"] < 0:
            raise ValueError(f"detg_fraction {detg_fraction} too large for the smooth fraction")
        odd[mask] = _choice(rng, table, int(mask.sum()))
    return odd


def _axis_ratio(t: dict, rng: np.random.Generator) -> np.ndarray:
    """Projected axis ratio: by roundness for ellipticals, cos i (i < 70°) for face-on disks, thin
    for edge-on disks (a little thicker where a dust lane must show), round-ish for irregulars."""
    n = t["class"].size
    roundness, odd = t["roundness"], t["odd"]
    q = np.where(t["smooth"], 1.0, 0.5)
    q = np.where(roundness == "completely_round", rng.uniform(0.85, 1.0, n), q)
    q = np.where(roundness == "in_between", rng.uniform(0.5, 0.8, n), q)
    q = np.where(roundness == "cigar_shaped", rng.uniform(0.22, 0.42, n), q)
    q = np.where(t["face"], np.sqrt(rng.uniform(0.35 ** 2, 1.0, n)), q)  # cos i, i < 70 deg
    q = np.where(t["edge"], rng.uniform(0.08, 0.2, n), q)
    q = np.where(t["edge"] & (odd == "dust_lane"), rng.uniform(0.2, 0.3, n), q)  # lane needs a visible disk
    return np.where(t["irregular"], rng.uniform(0.5, 1.0, n), q)


def _bulge_fraction_and_pitch(t: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bulge-to-total light ratio from the bulge answers (1 for ellipticals) and the arm pitch
    angle [deg] from the winding answer (0 without arms)."""
    n = t["class"].size
    bt = np.zeros(n)
    for name, (lo, hi) in BULGE_BT.items():
        m = t["disk"] & (t["prominence"] == name)
        bt[m] = rng.uniform(lo, hi, m.sum())
    for name, (lo, hi) in EDGE_BULGE_BT.items():
        m = t["edge"] & (t["bulge_shape"] == name)
        bt[m] = rng.uniform(lo, hi, m.sum())
    bt[t["smooth"]] = 1.0
    pitch = np.zeros(n)
    for name, (lo, hi) in PITCH_DEG.items():
        m = t["winding"] == name
        pitch[m] = rng.uniform(lo, hi, m.sum())
    return bt, pitch


_Z_GRID = np.linspace(0.003, 0.6, 600)


def _cosmo_grid():
    """Planck18 distance modulus [mag] and kpc per arcsec on _Z_GRID."""
    from astropy.cosmology import Planck18

    return Planck18.distmod(_Z_GRID).value, Planck18.kpc_proper_per_arcmin(_Z_GRID).value / 60.0


def sample_physics(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Physical properties and how well each galaxy is seen, given its morphology ``truth``.

    Masses by class, SFR from a z ≈ 0.1 main sequence with class offsets (D-ETGs star-forming),
    halo mass from M* plus a group/cluster excess for ETGs (D-ETGs in field/group halos), z uniform
    in volume out to where the galaxy would pass r < ``R_LIMIT``, R90 from a mass–size relation.

    Returns
    -------
    DataFrame: z, rmag [AB], logmstar [log10 M☉], logsfr [log10 M☉/yr], loghalomass [log10 M☉],
    true_r90_arcsec [″, ≥ 3 like GZ2's petroR90 cut], true_psf_fwhm_arcsec [″], true_visibility
    (0–1: resolution and brightness, what drives the volunteers' errors).
    """
    n = len(truth)
    cls = truth.true_class.to_numpy()
    smooth, irr = cls == "smooth", truth.true_odd_feature.to_numpy() == "irregular"
    detg = truth.true_detg.to_numpy()
    mass = np.where(smooth, rng.normal(10.85, 0.30, n), rng.normal(10.35, 0.40, n))
    mass = np.clip(np.where(irr, rng.normal(9.6, 0.35, n), mass), 9.0, 11.9)
    ms = 0.7 * (mass - 10.0) - 0.05  # star-forming main sequence at z ~ 0.1
    offset = np.where(truth.true_spiral | truth.true_edge_on, 0.0, -0.8)  # S0-like disks lower
    offset = np.where(smooth, -1.6, offset)
    offset = np.where(detg, -0.5, offset)  # D-ETGs: star-forming early types
    offset = np.where(irr, 0.15, offset) + np.where(truth.true_odd_feature == "merger", 0.2, 0.0)
    sfr = ms + offset + rng.normal(0, np.where(smooth & ~detg, 0.4, 0.3), n)
    env = np.where(smooth & ~detg, rng.exponential(0.5, n), 0.0)  # ETGs in groups/clusters
    halo = 11.9 + 1.4 * (mass - 10.5) + env + rng.normal(0, 0.3, n)
    halo = np.where(detg, np.minimum(halo - 0.2, 13.3), halo)  # field / group halos
    halo = np.clip(halo, 11.0, 15.0)
    ssfr = sfr - mass
    log_ml = 0.25 - 0.25 * np.clip(ssfr + 11.5, 0.0, 2.0)
    abs_r = 4.65 - 2.5 * (mass - log_ml)
    dm, kpc_per_arcsec = _cosmo_grid()
    zmax = np.clip(np.interp(R_LIMIT - abs_r, dm, _Z_GRID), 0.012, 0.25)
    zmin = 0.01
    z = (zmin ** 3 + rng.random(n) * (zmax ** 3 - zmin ** 3)) ** (1 / 3)
    rmag = abs_r + np.interp(z, _Z_GRID, dm)
    r90_kpc = np.where(smooth, 10 ** (0.55 * (mass - 11.0) + 1.05), 10 ** (0.25 * (mass - 10.5) + 1.1))
    r90_kpc = r90_kpc * 10 ** rng.normal(0, 0.12, n)
    r90 = np.maximum(r90_kpc / np.interp(z, _Z_GRID, kpc_per_arcsec), 3.0)  # GZ2: petroR90 > 3"
    r90 = np.where(cls == "star_or_artifact", 3.0, r90)
    fwhm = np.clip(rng.normal(1.4, 0.2, n), 0.9, 2.2)
    resolution = r90 / fwhm
    visibility = (1 - np.exp(-(resolution / 4.0) ** 1.5)) * np.clip(1 - 0.12 * (rmag - 16.0), 0.6, 1.0)
    return pd.DataFrame({"z": z, "rmag": rmag, "logmstar": mass, "logsfr": sfr, "loghalomass": halo,
                         "true_r90_arcsec": r90, "true_psf_fwhm_arcsec": fwhm,
                         "true_visibility": visibility})

