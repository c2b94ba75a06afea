"""Paper B mock: GZ2-like gri colour images and a Hart et al. (2016)-schema vote catalog.

Why: the diffusion, SimCLR and classifier stages need GZ2 images with volunteer votes *and* a truth
to score against. This module walks the GZ2 tree with realistic frequencies (``FREQUENCIES``), gives
each galaxy physical properties (z, r mag, log M*, log SFR, log halo mass; flux-limited at r < 17.0
like the GZ2 main sample), renders it procedurally and lets simulated volunteers vote.

Rendering (:func:`render_batch`, vectorised over a batch with numpy): Sérsic spheroid / bulge
(boxy for boxy edge-on bulges), exponential disk seen at the galaxy's inclination, logarithmic spiral
arms with the true winding (pitch) and arm number, a bar, a ring, a lensed arc, clumps (irregular),
a lopsided warp + plume (disturbed), a companion with a tidal tail (merger), a bright overlapping star
("other"), dust-lane absorption (stronger in g than i, so lanes are dark and red), a Gaussian PSF whose
size in pixels grows as the galaxy gets smaller on the sky (small, distant galaxies look smooth —
the bias Hart16 debiasing removes), sky noise by pixel area, and the Lupton asinh gri → RGB
stretch (:func:`lupton_rgb`: astropy's formula, applied to whole batches). Like GZ2 the pixel scale follows the galaxy size: the image
spans ``fov_r90`` × R90 (GZ2 native: 8.48 = 424 px × 0.02 R90; the default profile renders 64 px over
4.24 R90 — GZ2's central half — so bulge, bar, arms, ring and lanes span several pixels).

Votes (:func:`simulate_votes`): each volunteer walks the tree; a task's answers are multinomial over
the volunteers who reached it (so child counts equal the parent answer's count). A volunteer gives
the galaxy's true answer with probability 1 − ε, else one drawn from the task's base rates; ε grows
for hard galaxies (a per-galaxy ease factor) and for poorly resolved ones. Poor resolution also
shifts votes from features to smooth, spiral to no spiral, odd to not odd, arm number to "can't
tell"; the ``debiased`` columns remove that expected shift (Hart16 estimates it from the redshift
trend; the mock knows it). Some galaxies get few classifications, so deep tasks are not well sampled.

D-ETGs (early type + dust lane; star-forming, in field/group halos) are a profile parameter
(``detg_fraction``: ≈0.13 % in the paper profile; 2 % in default, ≈400 of 20,000, so Table 3's 100
training positives and a test set exist). 80 % of those at z < 0.1 — about a third of all — form the
"known catalog" (``detg_known.csv``, the role of Kaviraj et al. 2012's 352); the rest are for the
search to find.

Files (CONTRIBUTING contract): ``images/<dr7objid>.jpg``, ``gz2_hart16.csv.gz`` and
``detg_known.csv`` (dr7objid, ra, dec, z of the known D-ETG catalog).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from raregal.core import gz2_schema
from raregal.core.images import write_images

# ---------------------------------------------------------------------------------------------
# Data tables: morphology frequencies (tuned so the classifier tasks' positive fractions match seed
# 004 §4.2: spiral 0.43, edge-on disk 0.09, bar 0.10, bulge 0.07), volunteer behaviour, colours.
# ---------------------------------------------------------------------------------------------
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
# volunteer confusion per task: base ε and where confused votes go (answers in TREE order)
VOTE_MODEL = {
    "t01": (0.60, [0.45, 0.50, 0.05]), "t02": (0.30, [0.3, 0.7]), "t03": (0.45, [0.3, 0.7]),
    "t04": (0.60, [0.6, 0.4]), "t05": (0.55, [0.15, 0.45, 0.3, 0.1]), "t06": (0.30, [0.3, 0.7]),
    "t07": (0.50, [0.35, 0.45, 0.2]), "t08": (0.35, [0.12, 0.05, 0.15, 0.1, 0.3, 0.15, 0.13]),
    "t09": (0.50, [0.45, 0.2, 0.35]), "t10": (0.55, [0.3, 0.4, 0.3]),
    "t11": (0.55, [0.1, 0.35, 0.15, 0.1, 0.08, 0.22]),
}
SMOOTH_EASE = 0.45  # ellipticals are easy: their smooth/roundness votes agree more (GZ2 clean samples)
# resolution bias: (task, from answer index, to answer index, strength × (1 − visibility))
VOTE_BIAS = [("t01", 1, 0, 0.45), ("t04", 0, 1, 0.35), ("t06", 0, 1, 0.30), ("t11", None, 5, 0.40)]
# colours as (g/r, 1, i/r) flux ratios
COLOURS = {"old": (0.50, 1.0, 1.40), "young": (0.85, 1.0, 1.12), "star": (0.70, 1.0, 1.2)}
BANDS = ("g", "r", "i")
# nanomaggies per SDSS 0.396" pixel: 0.35 × SDSS single-epoch depth (≈ Stripe-82-like coadd), so
# disks, arms and lanes stay visible at 64 px; the real images are noisier.
SKY_SIGMA = np.array([0.050, 0.045, 0.070], np.float32) * 0.35
SDSS_PIX = 0.396
DUST_K = np.array([1.30, 1.0, 0.75], np.float32)  # lane optical depth per band relative to r
R_LIMIT = 17.0  # GZ2 main (original) sample, Willett et al. 2013
STRETCH = {"stretch": 1.0, "Q": 8.0}  # Lupton asinh on surface brightness (nmgy / arcsec^2)
RENDER_BATCH = 256  # galaxies per render batch at 64 px (≈180 MiB); fewer at larger sizes


def render_batch_size(size: int) -> int:
    """Galaxies per batch at ``size`` px: memory stays ≈ that of 256 at 64 px. Fixed per size, so a
    seed gives the same images whatever the caller does."""
    return int(np.clip(RENDER_BATCH * (64 / size) ** 2, 8, RENDER_BATCH))
ID_BASE = 587_720_000_000_000_000


# ---------------------------------------------------------------------------------------------
# truth: walk the tree
# ---------------------------------------------------------------------------------------------
def _choice(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    keys = list(table)
    p = np.array([table[k] for k in keys], float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def sample_morphology(n: int, rng: np.random.Generator, detg_fraction: float) -> pd.DataFrame:
    """Truth of every GZ2 feature, drawn by walking the tree with ``FREQUENCIES``."""
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
    odd = np.full(n, "none", dtype=object)
    for group, mask in (("smooth", smooth), ("face_on", disk), ("edge_on", edge)):
        table = dict(f["odd"][group])
        if group == "smooth":
            p_smooth = f["class"]["smooth"] / sum(f["class"].values())
            table["dust_lane"] = detg_fraction / p_smooth
        table["none"] = 1.0 - sum(table.values())
        if table["none"] < 0:
            raise ValueError(f"detg_fraction {detg_fraction} too large for the smooth fraction")
        odd[mask] = _choice(rng, table, int(mask.sum()))
    odd[irregular] = "irregular"
    q = np.where(smooth, 1.0, 0.5)
    q = np.where(roundness == "completely_round", rng.uniform(0.85, 1.0, n), q)
    q = np.where(roundness == "in_between", rng.uniform(0.5, 0.8, n), q)
    q = np.where(roundness == "cigar_shaped", rng.uniform(0.22, 0.42, n), q)
    q = np.where(face, np.sqrt(rng.uniform(0.35 ** 2, 1.0, n)), q)  # cos i, i < 70 deg
    q = np.where(edge, rng.uniform(0.08, 0.2, n), q)
    q = np.where(edge & (odd == "dust_lane"), rng.uniform(0.2, 0.3, n), q)  # lane needs a visible disk
    q = np.where(irregular, rng.uniform(0.5, 1.0, n), q)
    bt = np.zeros(n)
    for name, (lo, hi) in BULGE_BT.items():
        m = disk & (prominence == name)
        bt[m] = rng.uniform(lo, hi, m.sum())
    for name, (lo, hi) in EDGE_BULGE_BT.items():
        m = edge & (bulge_shape == name)
        bt[m] = rng.uniform(lo, hi, m.sum())
    bt[smooth] = 1.0
    pitch = np.zeros(n)
    for name, (lo, hi) in PITCH_DEG.items():
        m = winding == name
        pitch[m] = rng.uniform(lo, hi, m.sum())
    return pd.DataFrame({
        "true_class": cls.astype(str), "true_roundness": roundness.astype(str),
        "true_edge_on": edge, "true_bulge_shape": bulge_shape.astype(str), "true_bar": bar,
        "true_spiral": spiral, "true_winding": winding.astype(str), "true_arms": arms,
        "true_pitch_deg": pitch, "true_bulge_prominence": prominence.astype(str),
        "true_bt": bt, "true_odd_feature": odd.astype(str), "true_odd": odd != "none",
        "true_dust_lane": odd == "dust_lane", "true_detg": smooth & (odd == "dust_lane"),
        "true_axis_ratio": q, "true_pa_deg": rng.uniform(-90, 90, n),
    })


# ---------------------------------------------------------------------------------------------
# physics: mass, SFR, halo, flux-limited redshift, angular size, seeing
# ---------------------------------------------------------------------------------------------
_Z_GRID = np.linspace(0.003, 0.6, 600)


def _cosmo_grid():
    from astropy.cosmology import Planck18

    return Planck18.distmod(_Z_GRID).value, Planck18.kpc_proper_per_arcmin(_Z_GRID).value / 60.0


def sample_physics(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """z, rmag (r < R_LIMIT), log M*, log SFR [M☉/yr], log halo mass; R90, seeing, visibility."""
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


# ---------------------------------------------------------------------------------------------
# volunteers
# ---------------------------------------------------------------------------------------------
def _latent_answers(t: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The answer index a careful volunteer gives at each task, also off the galaxy's true path."""
    n = len(t)
    cls, q = t.true_class.to_numpy(), t.true_axis_ratio.to_numpy()
    smooth, edge = cls == "smooth", t.true_edge_on.to_numpy()
    shape_of_q = np.where(q > 0.8, 0, np.where(q > 0.45, 1, 2))
    rnd = {"completely_round": 0, "in_between": 1, "cigar_shaped": 2}
    roundness = np.array([rnd.get(r, -1) for r in t.true_roundness])
    prom = {"no_bulge": 0, "just_noticeable": 1, "obvious": 2, "dominant": 3}
    t05 = np.array([prom.get(p, 1) for p in t.true_bulge_prominence])
    shp = {"rounded": 0, "boxy": 1, "no_bulge": 2}
    t09 = np.array([shp.get(s, 0) for s in t.true_bulge_shape])
    t05 = np.where(edge, np.where(t09 == 2, 0, 2), t05)
    odd_names = list(gz2_schema.TREE.answer_name[gz2_schema.TREE.task == "t08"])
    t08 = np.array([odd_names.index(o) if o in odd_names else odd_names.index("other")
                    for o in t.true_odd_feature])
    wind = {"tight": 0, "medium": 1, "loose": 2}
    return {
        "t01": np.select([smooth, cls == "features"], [0, 1], 2),
        "t02": np.where(edge | (smooth & (roundness == 2) & (rng.random(n) < 0.5)), 0, 1),
        "t03": np.where(t.true_bar, 0, 1),
        "t04": np.where(t.true_spiral, 0, 1),
        "t05": t05,
        "t06": np.where(t.true_odd, 0, 1),
        "t07": np.where(smooth, roundness, shape_of_q),
        "t08": t08,
        "t09": np.where(edge, t09, np.where(t05 == 0, 2, 0)),
        "t10": np.array([wind.get(w, 1) for w in t.true_winding]),
        "t11": np.where(t.true_arms > 0, np.clip(t.true_arms, 1, 5) - 1, 5),
    }


def _answer_probabilities(truth: pd.DataFrame, rng: np.random.Generator
                          ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per task (biased, unbiased) answer probabilities (n, k) of one volunteer."""
    n = len(truth)
    vis = truth.true_visibility.to_numpy()
    ease = rng.lognormal(0.3, 0.55, n)  # some galaxies are simply ambiguous
    smooth = truth.true_class.to_numpy() == "smooth"
    # arms are countable when their spacing (~π·0.5·R90/m) is a few PSF widths: many, tightly
    # packed arms on a small galaxy blur together, so volunteers guess
    m = np.maximum(truth.true_arms.to_numpy(), 1)
    spacing = np.pi * 0.5 * truth.true_r90_arcsec.to_numpy() / m
    arm_vis = np.minimum(vis, np.clip(spacing / (2.5 * truth.true_psf_fwhm_arcsec.to_numpy()) - 0.3, 0, 1))
    latent = _latent_answers(truth, rng)
    biased, clean = {}, {}
    for task, (eps0, base) in VOTE_MODEL.items():
        base = np.asarray(base, float)
        k = len(base)
        easy = np.where(smooth, SMOOTH_EASE, 1.0) if task in ("t01", "t07") else 1.0
        seen = arm_vis if task in ("t10", "t11") else vis
        eps = np.clip(eps0 * ease * easy * (1.6 - seen), 0.0, 0.95)[:, None]
        onehot = np.eye(k)[latent[task]]
        p = (1 - eps) * onehot + eps * base[None, :]
        clean[task] = p
        pb = p.copy()
        for btask, src, dst, strength in VOTE_BIAS:
            if btask != task:
                continue
            shift_from = np.arange(k) != dst if src is None else np.arange(k) == src
            moved = pb[:, shift_from] * (strength * (1 - vis))[:, None]
            pb[:, shift_from] -= moved
            pb[:, dst] += moved.sum(axis=1)
        biased[task] = pb
    return biased, clean


def simulate_votes(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Hart16 vote columns (count, weight, fraction, weighted_fraction, debiased, flag) per answer."""
    n = len(truth)
    biased, clean = _answer_probabilities(truth, rng)
    n_class = np.where(rng.random(n) < 0.15, rng.integers(8, 30, n), 25 + rng.poisson(20, n))
    tree = gz2_schema.TREE
    answers = {t: list(tree.answer[tree.task == t]) for t in gz2_schema.TASKS}
    counts: dict[str, np.ndarray] = {}
    reach = {"t01": n_class}

    def vote(task):
        c = rng.multinomial(reach[task], biased[task])
        counts[task] = c
        return {a: c[:, i] for i, a in enumerate(answers[task])}

    a = vote("t01")
    reach.update(t02=a["a02"], t07=a["a01"], t06=n_class - a["a03"])
    a = vote("t02")
    reach.update(t09=a["a04"], t03=a["a05"])
    vote("t03")
    reach["t04"] = reach["t03"]
    a = vote("t04")
    reach.update(t10=a["a08"], t05=reach["t04"])
    vote("t10")
    reach["t11"] = reach["t10"]
    for task in ("t05", "t07", "t09", "t11"):
        vote(task)
    reach["t08"] = vote("t06")["a14"]
    vote("t08")
    cols: dict[str, np.ndarray] = {}
    for task in gz2_schema.TASKS:
        c = counts[task].astype(np.int64)
        total = c.sum(axis=1, keepdims=True)
        safe = np.maximum(total, 1)
        frac = c / safe
        w = c * rng.uniform(0.85, 1.0, c.shape)
        wfrac = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
        deb = np.clip(frac + (clean[task] - biased[task]), 0.0, None)
        deb = np.where(total > 0, deb / np.maximum(deb.sum(axis=1, keepdims=True), 1e-9), 0.0)
        for i, stem in enumerate(tree.stem[tree.task == task]):
            cols[gz2_schema.column(stem, "count")] = c[:, i]
            cols[gz2_schema.column(stem, "weight")] = np.round(w[:, i], 3)
            cols[gz2_schema.column(stem, "fraction")] = np.round(frac[:, i], 4)
            cols[gz2_schema.column(stem, "weighted_fraction")] = np.round(wfrac[:, i], 4)
            cols[gz2_schema.column(stem, "debiased")] = np.round(deb[:, i], 4)
            cols[gz2_schema.column(stem, "flag")] = np.zeros(n, np.int64)
    votes = pd.DataFrame(cols)
    ok = gz2_schema.task_well_answered(votes)
    for row in tree.itertuples():
        deb = votes[gz2_schema.column(row.stem, "debiased")]
        votes[gz2_schema.column(row.stem, "flag")] = (ok[row.task] & (deb >= gz2_schema.MIN_DEBIASED)).astype(np.int64)
    votes.insert(0, "total_classifications", n_class.astype(np.int64))
    votes.insert(1, "total_votes", sum(counts[t].sum(axis=1) for t in gz2_schema.TASKS).astype(np.int64))
    return votes


def gz2_class_string(votes: pd.DataFrame) -> np.ndarray:
    """A short Hart16-style ``gz2_class`` from the majority votes (E[ric], Se[rbn], S[B][a-d][arms])."""
    def arg(task):
        stems = gz2_schema.TREE.stem[gz2_schema.TREE.task == task]
        return votes[[gz2_schema.column(s, "fraction") for s in stems]].to_numpy().argmax(axis=1)
    t01, t02, t03, t05, t07, t09, t11 = (arg(t) for t in ("t01", "t02", "t03", "t05", "t07", "t09", "t11"))
    spiral = votes[gz2_schema.column(gz2_schema.stem_of("t04", "a08"), "fraction")].to_numpy() > 0.5
    out = []
    for i in range(len(votes)):
        if t01[i] == 2:
            out.append("A")
        elif t01[i] == 0:
            out.append("E" + "ric"[t07[i]])
        elif t02[i] == 0:
            out.append("Se" + "rbn"[t09[i]])
        else:
            s = "S" + ("B" if t03[i] == 0 else "") + "dcba"[t05[i]]
            out.append(s + ("123+4?"[[0, 1, 2, 4, 3, 5][t11[i]]] if spiral[i] else ""))
    return np.array(out)


def make_catalog(n: int, seed: int = 0, detg_fraction: float = 0.0013) -> pd.DataFrame:
    """The whole mock catalog (no images): ids, coordinates, votes, physics and truth."""
    if n < 1:
        raise ValueError(f"need at least one galaxy, got n={n}")
    rng = np.random.default_rng([seed, 62])
    truth = sample_morphology(n, rng, detg_fraction)
    phys = sample_physics(truth, rng)
    votes = simulate_votes(pd.concat([truth, phys], axis=1), rng)
    ids = ID_BASE + np.sort(rng.choice(10 ** 13, size=n, replace=False))
    ra = rng.uniform(110.0, 260.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-5)), np.sin(np.radians(65)), n)))
    head = pd.DataFrame({"dr7objid": ids.astype(np.int64), "ra": np.round(ra, 6),
                         "dec": np.round(dec, 6), "sample": "original"})
    cat = pd.concat([head, votes, phys.iloc[:, :5], truth, phys.iloc[:, 5:]], axis=1)
    cat.insert(4, "gz2_class", gz2_class_string(votes))
    return cat


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
def _sersic(r: np.ndarray, re: np.ndarray, n: int) -> np.ndarray:
    """Sérsic profile for n = 1, 2 or 4 (roots instead of a slow float power)."""
    root = {1: lambda a: a, 2: np.sqrt, 4: lambda a: np.sqrt(np.sqrt(a))}[n]
    return np.exp(-(2.0 * n - 1.0 / 3.0) * (root(r / re) - 1.0))


def lupton_rgb(r: np.ndarray, g: np.ndarray, b: np.ndarray, stretch: float, Q: float) -> np.ndarray:
    """Lupton et al. (2004) asinh colour stretch, as ``astropy``'s ``make_lupton_rgb(minimum=0)``.

    Same formula and saturation rule (a pixel whose brightest channel exceeds 255 keeps its colour),
    but on whole batches at once: astropy's nested ``np.where`` version took 40 % of the render time.
    Inputs any shape; returns uint8 with a trailing channel axis (R, G, B).
    """
    slope = 0.1 * 255.0 / np.arcsinh(0.1 * Q)
    intensity = (r + g + b) / 3.0
    with np.errstate(invalid="ignore", divide="ignore"):
        fac = np.where(intensity <= 0, 0.0, np.arcsinh(intensity * (Q / stretch)) * slope / intensity)
    chans = [np.maximum(c * fac, 0.0) for c in (r, g, b)]
    peak = np.maximum(np.maximum(chans[0], chans[1]), chans[2])
    scale = np.where(peak >= 255.0, 255.0 / np.maximum(peak, 1e-30), 1.0)
    out = np.empty((*np.shape(r), 3), np.uint8)
    for k, c in enumerate(chans):
        out[..., k] = np.minimum(c * scale, 255.0)
    return out


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(a.sum(axis=(-2, -1), keepdims=True), 1e-12)


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def render_batch(cat: pd.DataFrame, size: int, fov_r90: float, rng: np.random.Generator,
                 return_bands: bool = False, noise: bool = True) -> np.ndarray:
    """Render catalog rows as uint8 RGB images (B, size, size, 3), or with ``return_bands`` the
    float g, r, i surface brightness (B, 3, S, S) in nanomaggies per arcsec².

    Needs the truth and physics columns of :func:`make_catalog`. Random details (arm phase, clump
    positions, companion placement) come from ``rng``; ``noise=False`` leaves out the sky noise.
    """
    b = len(cat)
    f32 = np.float32
    r90 = np.full(b, size / fov_r90, f32)  # R90 in pixels (GZ2: pixel scale ∝ R90)
    pix = (cat.true_r90_arcsec.to_numpy() / r90).astype(f32)  # arcsec per pixel
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(f32)
    off = rng.normal(0, 0.4, (b, 2)).astype(f32)
    x = xx[None] - (c + off[:, 0, None, None])
    y = yy[None] - (c + off[:, 1, None, None])
    col = lambda name: cat[name].to_numpy()  # noqa: E731
    cls, odd = col("true_class"), col("true_odd_feature")
    smooth, edge, star_cls = cls == "smooth", col("true_edge_on"), cls == "star_or_artifact"
    disk = (cls == "features")
    # lopsided warp for disturbed galaxies (before anything is drawn)
    dist = odd == "disturbed"
    if dist.any():
        phi = rng.uniform(0, 2 * np.pi, b).astype(f32)
        amp = np.where(dist, rng.uniform(0.25, 0.4, b), 0.0).astype(f32)
        rr2 = (x ** 2 + y ** 2) / r90[:, None, None]
        x = x - amp[:, None, None] * rr2 * np.cos(phi)[:, None, None]
        y = y - amp[:, None, None] * rr2 * np.sin(phi)[:, None, None]
    pa = np.radians(col("true_pa_deg")).astype(f32)
    cp, sp = np.cos(pa)[:, None, None], np.sin(pa)[:, None, None]
    u = x * cp + y * sp
    w = -x * sp + y * cp
    q = col("true_axis_ratio").astype(f32)
    bt = col("true_bt").astype(f32)
    ssfr = col("logsfr") - col("logmstar")
    young = np.clip((ssfr + 11.5) / 1.5, 0, 1)[:, None]
    disk_col = (np.array(COLOURS["old"]) * (1 - young) + np.array(COLOURS["young"]) * young).astype(f32)
    old_col = np.array(COLOURS["old"], f32)
    blue_col = np.array((1.15, 1.0, 0.85), f32)
    star_col = np.array(COLOURS["star"], f32)
    img = np.zeros((b, 3, size, size), f32)

    def add(idx, comp, flux, colour):
        colour = np.broadcast_to(np.asarray(colour, f32), (len(idx), 3)) if np.ndim(colour) == 1 else colour
        flux = np.broadcast_to(np.asarray(flux, f32), (len(idx),))
        img[idx] += (flux[:, None] * colour)[:, :, None, None] * _unit(comp)[:, None]

    # spheroid / bulge
    has_bulge = np.nonzero(bt > 0)[0]
    if len(has_bulge):
        i = has_bulge
        re = np.where(smooth[i], r90[i] / 2.8, r90[i] * (0.07 + 0.10 * bt[i]))
        qb = np.where(smooth[i], q[i], np.where(edge[i], np.where(col("true_bulge_shape")[i] == "boxy",
                                                                   0.62, 0.82), 0.85))
        wq = w[i] / qb[:, None, None]
        rb = np.sqrt(u[i] ** 2 + wq ** 2 + 0.3)
        boxy = np.nonzero(col("true_bulge_shape")[i] == "boxy")[0]
        if len(boxy):  # boxy isophotes: |u|^4 + |w|^4
            rb[boxy] = np.sqrt(np.sqrt(u[i[boxy]] ** 4 + wq[boxy] ** 4) + 0.3)
        prof = np.empty_like(rb)
        for n_s, sel in ((4, smooth[i]), (2, ~smooth[i])):
            if sel.any():
                prof[sel] = _sersic(rb[sel], re[sel, None, None], n_s)
        add(i, prof, bt[i], old_col)
    # disk (+ arms, bar), also the body of irregulars
    di = np.nonzero(disk)[0]
    if len(di):
        ud, wd = u[di], w[di] / q[di, None, None]
        rd = np.sqrt(ud ** 2 + wd ** 2) + 1e-3
        h = r90[di, None, None] / 3.6
        base = np.exp(-rd / h)
        arms = col("true_arms")[di]
        spiral_i = arms > 0
        f_arm = np.where(spiral_i, rng.uniform(0.45, 0.6, len(di)), 0.0).astype(f32)
        f_disk = (1 - bt[di]) * (1 - f_arm)
        add(di, base, f_disk, disk_col[di])
        if spiral_i.any():
            j = np.nonzero(spiral_i)[0]
            m = np.where(arms[j] >= 5, rng.integers(5, 7, len(j)), arms[j]).astype(f32)[:, None, None]
            tanp = np.tan(np.radians(col("true_pitch_deg")[di[j]])).astype(f32)[:, None, None]
            theta = np.arctan2(wd[j], ud[j])
            phase = m * (theta - np.log(rd[j] / h[j]) / tanp) + rng.uniform(0, 2 * np.pi, (len(j), 1, 1))
            shape = ((1 + np.cos(phase)) / 2) ** 3
            r_in = np.where(col("true_bar")[di[j]], 0.42, 0.22)[:, None, None] * r90[di[j], None, None]
            arm_map = shape * np.exp(-rd[j] / (1.3 * h[j])) * (1 - np.exp(-(rd[j] / r_in) ** 2))
            add(di[j], arm_map, (1 - bt[di[j]]) * f_arm[j], blue_col)
        bars = np.nonzero(col("true_bar")[di])[0]
        if len(bars):
            k = di[bars]
            ang = rng.uniform(0, np.pi, len(k)).astype(f32)[:, None, None]
            xb = ud[bars] * np.cos(ang) + wd[bars] * np.sin(ang)
            yb = -ud[bars] * np.sin(ang) + wd[bars] * np.cos(ang)
            length = r90[k, None, None] * rng.uniform(0.38, 0.48, (len(k), 1, 1)).astype(f32)
            width = np.maximum(r90[k, None, None] * 0.09, 0.9)
            add(k, np.exp(-(xb / length) ** 4 - (yb / width) ** 2), rng.uniform(0.16, 0.22, len(k)),
                old_col)
    # odd features
    def rows(name):
        return np.nonzero(odd == name)[0]

    i = rows("ring")
    if len(i):
        qr = np.where(smooth[i], rng.uniform(0.6, 1.0, len(i)), q[i]).astype(f32)[:, None, None]
        rr = np.sqrt(u[i] ** 2 + (w[i] / qr) ** 2)
        radius = r90[i, None, None] * rng.uniform(0.6, 0.85, (len(i), 1, 1)).astype(f32)
        width = np.maximum(r90[i, None, None] * 0.06, 0.8)
        add(i, np.exp(-0.5 * ((rr - radius) / width) ** 2), rng.uniform(0.3, 0.4, len(i)), blue_col)
    i = rows("lens_or_arc")
    if len(i):
        rr, th = np.sqrt(x[i] ** 2 + y[i] ** 2), np.arctan2(y[i], x[i])
        th0 = rng.uniform(-np.pi, np.pi, (len(i), 1, 1)).astype(f32)
        radius = r90[i, None, None] * rng.uniform(0.95, 1.25, (len(i), 1, 1)).astype(f32)
        width = np.maximum(r90[i, None, None] * 0.04, 0.7)
        arc = np.exp(-0.5 * ((rr - radius) / width) ** 2) * np.exp(-0.5 * (_wrap(th - th0) / 0.55) ** 2)
        counter = np.exp(-0.5 * ((rr - 0.7 * radius) / width) ** 2) * np.exp(
            -0.5 * (_wrap(th - th0 - np.pi) / 0.3) ** 2)
        add(i, arc + 0.3 * counter, rng.uniform(0.22, 0.3, len(i)), np.array((1.3, 1.0, 0.8), f32))
    i = np.nonzero((odd == "irregular") | dist)[0]
    if len(i):
        k_cl = 6
        rad = r90[i, None] * np.sqrt(rng.uniform(0.0, 0.6, (len(i), k_cl)))
        ang = rng.uniform(0, 2 * np.pi, (len(i), k_cl))
        cx, cy = (rad * np.cos(ang)).astype(f32), (rad * np.sin(ang)).astype(f32)
        sig = np.maximum(r90[i, None] * rng.uniform(0.05, 0.1, (len(i), k_cl)), 0.8).astype(f32)
        amp = rng.uniform(0.5, 1.0, (len(i), k_cl)).astype(f32)
        amp[dist[i], 3:] = 0.0  # disturbed: a few knots, irregular: six
        blobs = (amp[:, :, None, None] * np.exp(-0.5 * ((x[i, None] - cx[:, :, None, None]) ** 2
                                                       + (y[i, None] - cy[:, :, None, None]) ** 2)
                                               / sig[:, :, None, None] ** 2)).sum(axis=1)
        add(i, blobs, np.where(dist[i], 0.15, 0.45), blue_col)
    i = rows("disturbed")
    if len(i):  # an offset, elongated plume
        ang = rng.uniform(0, 2 * np.pi, len(i)).astype(f32)[:, None, None]
        d0 = 0.7 * r90[i, None, None]
        xp = x[i] - d0 * np.cos(ang)
        yp = y[i] - d0 * np.sin(ang)
        along = xp * np.cos(ang) + yp * np.sin(ang)
        across = -xp * np.sin(ang) + yp * np.cos(ang)
        plume = np.exp(-0.5 * (along / (0.6 * r90[i, None, None])) ** 2
                       - 0.5 * (across / (0.25 * r90[i, None, None])) ** 2)
        add(i, plume, 0.2, disk_col[i])
    i = rows("merger")
    if len(i):  # companion + tidal tail (one-armed log spiral outside the body)
        ang = rng.uniform(0, 2 * np.pi, len(i)).astype(f32)
        dist_c = r90[i] * rng.uniform(0.8, 1.2, len(i)).astype(f32)
        xc = x[i] - (dist_c * np.cos(ang))[:, None, None]
        yc = y[i] - (dist_c * np.sin(ang))[:, None, None]
        rc = np.sqrt(xc ** 2 + yc ** 2 + 0.3)
        re_c = (r90[i] * rng.uniform(0.15, 0.25, len(i)))[:, None, None]
        add(i, _sersic(rc, re_c, 2), rng.uniform(0.3, 0.55, len(i)),
            disk_col[i])
        rr, th = np.sqrt(x[i] ** 2 + y[i] ** 2) + 1e-3, np.arctan2(y[i], x[i])
        sign = np.where(rng.random(len(i)) < 0.5, -1.0, 1.0).astype(f32)[:, None, None]
        r0 = 0.6 * r90[i, None, None]
        th_tail = (ang + np.pi * 0.9)[:, None, None] + sign * np.log(rr / r0) / np.tan(np.radians(28))
        along = np.clip(rr / r0, 0, None)
        tail = np.exp(-0.5 * (_wrap(th - th_tail) * rr / np.maximum(0.08 * r90[i, None, None], 1.0)) ** 2)
        tail *= ((along > 1.0) * np.exp(-(along - 1.0) / 1.5)).astype(f32)
        add(i, tail, rng.uniform(0.15, 0.22, len(i)), blue_col)
    i = rows("other")
    if len(i):  # a bright foreground star on the galaxy
        ang = rng.uniform(0, 2 * np.pi, len(i))
        d0 = r90[i] * rng.uniform(0.4, 0.8, len(i))
        xs = x[i] - (d0 * np.cos(ang)).astype(f32)[:, None, None]
        ys = y[i] - (d0 * np.sin(ang)).astype(f32)[:, None, None]
        add(i, np.exp(-0.5 * (xs ** 2 + ys ** 2) / 0.3), rng.uniform(0.8, 1.5, len(i)), star_col)
    i = np.nonzero(star_cls)[0]
    if len(i):  # star (with diffraction spikes) or satellite trail
        trail = rng.random(len(i)) < 0.4
        spikes = np.exp(-0.5 * (x[i] ** 2 + y[i] ** 2) / 0.3)
        spikes += 0.004 * (np.exp(-np.abs(x[i]) / (0.12 * size) - 0.5 * y[i] ** 2 / 0.1)
                           + np.exp(-np.abs(y[i]) / (0.12 * size) - 0.5 * x[i] ** 2 / 0.1))
        ang = rng.uniform(0, np.pi, len(i)).astype(f32)[:, None, None]
        line = np.exp(-0.5 * ((-x[i] * np.sin(ang) + y[i] * np.cos(ang) - 3.0) / 0.6) ** 2)
        add(i, np.where(trail[:, None, None], line + 0.3 * spikes, spikes), 0.08, star_col)
    # dust lane: absorption along a line through the centre (before the PSF)
    i = np.nonzero(col("true_dust_lane"))[0]
    if len(i):
        along_major = edge[i] | (rng.random(len(i)) < 0.6)
        alpha = np.where(along_major, pa[i] + rng.normal(0, 0.15, len(i)), rng.uniform(0, np.pi, len(i)))
        alpha = alpha.astype(f32)[:, None, None]
        shift = np.where(edge[i], 0.0, rng.normal(0, 0.04, len(i)) * r90[i])
        d = -x[i] * np.sin(alpha) + y[i] * np.cos(alpha) - shift.astype(f32)[:, None, None]
        l_ = x[i] * np.cos(alpha) + y[i] * np.sin(alpha)
        width = np.where(edge[i], np.maximum(0.05 * r90[i], 0.8), np.maximum(0.09 * r90[i], 1.2))
        width = width.astype(f32)[:, None, None]
        tau = rng.uniform(2.5, 4.0, len(i)).astype(f32)[:, None, None]
        tau_map = tau * np.exp(-0.5 * (d / width) ** 2 - 0.5 * (l_ / (1.1 * r90[i, None, None])) ** 2)
        img[i] *= np.exp(-tau_map[:, None] * DUST_K[None, :, None, None])
    # total flux (nanomaggies), PSF by FFT, sky noise by pixel area
    flux_r = 10 ** (-0.4 * (col("rmag") - 22.5))
    img *= flux_r.astype(f32)[:, None, None, None]
    sigma_psf = (col("true_psf_fwhm_arcsec") / 2.355 / pix).astype(f32)
    ky = np.fft.fftfreq(size).astype(f32)
    kx = np.fft.rfftfreq(size).astype(f32)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    otf = np.exp(-2 * np.pi ** 2 * sigma_psf[:, None, None, None] ** 2 * k2[None, None])
    # sky noise of SDSS 0.396" pixels, resampled like GZ2 images: correlated over one SDSS pixel
    sig_n = np.maximum(0.5 * SDSS_PIX / pix, 0.5).astype(f32)
    ntf = np.exp(-2 * np.pi ** 2 * sig_n[:, None, None, None] ** 2 * k2[None, None])
    sky = rng.standard_normal(img.shape, dtype=f32)
    noise_amp = (SKY_SIGMA[None, :] * (np.sqrt(4 * np.pi) * sig_n)[:, None] * noise).astype(f32)
    img = np.fft.irfft2(np.fft.rfft2(img / (pix ** 2)[:, None, None, None]) * otf
                        + np.fft.rfft2(sky) * ntf * noise_amp[:, :, None, None] / SDSS_PIX ** 2,
                        s=(size, size)).astype(f32)  # surface brightness: the stretch is fixed on the sky
    if return_bands:
        return img
    return lupton_rgb(img[:, 2], img[:, 1], img[:, 0], **STRETCH)  # R = i, G = r, B = g


def write_survey(out_dir: Path | str, n: int, image_size: int = 64, seed: int = 0,
                 fov_r90: float = 4.24, detg_fraction: float = 0.0013, quality: int = 92,
                 log=print) -> dict:
    """Write ``images/<dr7objid>.jpg``, ``gz2_hart16.csv.gz`` and ``detg_known.csv`` under ``out_dir``.

    Returns a summary dict (counts, timings). Images are rendered :func:`render_batch_size` at a
    time, so memory stays flat for any ``n``.
    """
    from raregal.core.outputs import atomic_path

    out = Path(out_dir)
    t0 = time.perf_counter()
    cat = make_catalog(n, seed, detg_fraction)
    t_cat = time.perf_counter() - t0
    img_dir = out / gz2_schema.IMAGES_DIR
    img_dir.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    step = render_batch_size(image_size)
    for start in range(0, n, step):
        part = cat.iloc[start:start + step]
        rng = np.random.default_rng([seed, 7, start // step])
        write_images(img_dir, part.dr7objid.to_numpy(), render_batch(part, image_size, fov_r90, rng),
                     quality=quality)
        if log and (start // step) % max(1, 5000 // step) == 0:
            log(f"  rendered {min(start + step, n):,}/{n:,} images")
    t_img = time.perf_counter() - t1
    with atomic_path(out / gz2_schema.CATALOG_FILE) as tmp:
        cat.to_csv(tmp, index=False, compression={"method": "gzip", "compresslevel": 1})
    rng = np.random.default_rng([seed, 99])
    known = cat[cat.true_detg & (cat.z < 0.1) & (rng.random(n) < 0.8)]
    with atomic_path(out / gz2_schema.KNOWN_DETG_FILE) as tmp:
        known[["dr7objid", "ra", "dec", "z"]].to_csv(tmp, index=False)
    return {"n_galaxies": n, "image_size": image_size, "n_detg_true": int(cat.true_detg.sum()),
            "n_detg_known": len(known), "catalog_s": round(t_cat, 2), "render_write_s": round(t_img, 2),
            "images_per_s": round(n / max(t_img, 1e-9), 1), "total_s": round(time.perf_counter() - t0, 2)}
