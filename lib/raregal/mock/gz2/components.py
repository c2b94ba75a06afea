"""The drawing steps of a paper B mock image, one function per component, each adding its light to
(or, for dust, taking light from) a batch of noiseless g, r, i images before the PSF.

Why one function per step: each GZ2 feature (Willett et al. 2013 tree) the classifiers and the
diffusion model of Ma et al. (2025) must see has its own small, readable recipe. All steps share the
signature ``step(img, batch, rng)`` and run in the order of ``DRAWING_STEPS``; that order is also the
order of the random draws, so changing it changes every image of a seed.

Units: components are unit-flux maps scaled by a fraction of the galaxy's r-band light and a
(g/r, 1, i/r) colour; coordinates are pixels from the (jittered) galaxy centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# colours as (g/r, 1, i/r) flux ratios
COLOURS = {"old": (0.50, 1.0, 1.40), "young": (0.85, 1.0, 1.12), "star": (0.70, 1.0, 1.2)}
_OLD = np.array(COLOURS["old"], np.float32)
_BLUE = np.array((1.15, 1.0, 0.85), np.float32)  # arms, rings, clumps, tidal tails
_ARC = np.array((1.3, 1.0, 0.8), np.float32)  # a lensed background galaxy
_STAR = np.array(COLOURS["star"], np.float32)
DUST_K = np.array([1.30, 1.0, 0.75], np.float32)  # lane optical depth per band relative to r


@dataclass(frozen=True)
class Batch:
    """One render batch: the catalog rows and what every drawing step needs of them.

    ``x, y`` (B, S, S) are pixels from each galaxy's centre (after the disturbed galaxies' warp);
    ``u, w`` the same along the major / minor axis. Per galaxy (B,): ``r90`` [px], ``pa`` [rad],
    ``q`` (axis ratio), ``bt`` (bulge-to-total), all float32; ``disk_col`` (B, 3) the disk colour.
    """

    cat: pd.DataFrame
    size: int
    r90: np.ndarray
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    w: np.ndarray
    pa: np.ndarray
    q: np.ndarray
    bt: np.ndarray
    disk_col: np.ndarray
    detg_lane_depth: float = 1.0  # D-ETG lanes' optical depth relative to the other lanes'

    def col(self, name: str) -> np.ndarray:
        return self.cat[name].to_numpy()

    def rows(self, odd_feature: str) -> np.ndarray:
        """Indices of the galaxies whose true odd feature is ``odd_feature``."""
        return np.nonzero(self.col("true_odd_feature") == odd_feature)[0]

    @property
    def smooth(self) -> np.ndarray:
        return self.col("true_class") == "smooth"

    @property
    def disturbed(self) -> np.ndarray:
        return self.col("true_odd_feature") == "disturbed"


def disk_colour(cat: pd.DataFrame) -> np.ndarray:
    """(B, 3) float32 disk colour: old stars mixed toward young as log sSFR goes from −11.5 to −10."""
    ssfr = cat["logsfr"].to_numpy() - cat["logmstar"].to_numpy()
    young = np.clip((ssfr + 11.5) / 1.5, 0, 1)[:, None]
    mixed = np.array(COLOURS["old"]) * (1 - young) + np.array(COLOURS["young"]) * young
    return mixed.astype(np.float32)


def _sersic(r: np.ndarray, re: np.ndarray, n: int) -> np.ndarray:
    """Sérsic profile for n = 1, 2 or 4 (roots instead of a slow float power)."""
    root = {1: lambda a: a, 2: np.sqrt, 4: lambda a: np.sqrt(np.sqrt(a))}[n]
    return np.exp(-(2.0 * n - 1.0 / 3.0) * (root(r / re) - 1.0))


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.maximum(a.sum(axis=(-2, -1), keepdims=True), 1e-12)


def _wrap(a: np.ndarray) -> np.ndarray:
    """Angle difference wrapped into [-π, π)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def add_light(img: np.ndarray, idx: np.ndarray, comp: np.ndarray, flux, colour) -> None:
    """``img[idx] += flux × colour × comp / Σ comp``: a component of ``flux`` (fraction of the r-band
    light, scalar or per galaxy) and ``colour`` ((3,) or (len(idx), 3))."""
    f32 = np.float32
    colour = np.broadcast_to(np.asarray(colour, f32), (len(idx), 3)) if np.ndim(colour) == 1 else colour
    flux = np.broadcast_to(np.asarray(flux, f32), (len(idx),))
    img[idx] += (flux[:, None] * colour)[:, :, None, None] * _unit(comp)[:, None]


def add_spheroid(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Spheroid (de Vaucouleurs, R_e = R90/2.8) of ellipticals and Sérsic-2 bulges of disks, flux
    B/T; edge-on bulges are flattened, boxy ones have |u|⁴ + |w|⁴ isophotes. Draws nothing."""
    i = np.nonzero(g.bt > 0)[0]
    if not len(i):
        return
    smooth, edge = g.smooth[i], g.col("true_edge_on")[i]
    boxy_shape = g.col("true_bulge_shape")[i] == "boxy"
    re = np.where(smooth, g.r90[i] / 2.8, g.r90[i] * (0.07 + 0.10 * g.bt[i]))
    qb = np.where(smooth, g.q[i], np.where(edge, np.where(boxy_shape, 0.62, 0.82), 0.85))
    wq = g.w[i] / qb[:, None, None]
    rb = np.sqrt(g.u[i] ** 2 + wq ** 2 + 0.3)
    boxy = np.nonzero(boxy_shape)[0]
    if len(boxy):  # boxy isophotes: |u|^4 + |w|^4
        rb[boxy] = np.sqrt(np.sqrt(g.u[i[boxy]] ** 4 + wq[boxy] ** 4) + 0.3)
    prof = np.empty_like(rb)
    for n_s, sel in ((4, smooth), (2, ~smooth)):
        if sel.any():
            prof[sel] = _sersic(rb[sel], re[sel, None, None], n_s)
    add_light(img, i, prof, g.bt[i], _OLD)


@dataclass(frozen=True)
class DiskPlane:
    """Disk galaxies ``idx`` in their own plane: ``u`` along the major axis, ``w`` deprojected
    (÷ q), ``r`` radius [px], ``h`` exponential scale length (R90/3.6) [px]."""

    idx: np.ndarray
    u: np.ndarray
    w: np.ndarray
    r: np.ndarray
    h: np.ndarray


def add_disk(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Exponential disk seen at the galaxy's axis ratio (also the body of irregulars), then its
    spiral arms (45–60 % of the disk light) and bar."""
    di = np.nonzero(g.col("true_class") == "features")[0]
    if not len(di):
        return
    ud, wd = g.u[di], g.w[di] / g.q[di, None, None]
    rd = np.sqrt(ud ** 2 + wd ** 2) + 1e-3
    plane = DiskPlane(di, ud, wd, rd, g.r90[di, None, None] / 3.6)
    arms = g.col("true_arms")[di]
    spiral = arms > 0
    f_arm = np.where(spiral, rng.uniform(0.45, 0.6, len(di)), 0.0).astype(np.float32)
    add_light(img, di, np.exp(-rd / plane.h), (1 - g.bt[di]) * (1 - f_arm), g.disk_col[di])
    if spiral.any():
        _add_spiral_arms(img, g, plane, arms, f_arm, rng)
    bars = np.nonzero(g.col("true_bar")[di])[0]
    if len(bars):
        _add_bar(img, g, di[bars], ud[bars], wd[bars], rng)


def _add_spiral_arms(img: np.ndarray, g: Batch, d: DiskPlane, arms: np.ndarray, f_arm: np.ndarray,
                     rng: np.random.Generator) -> None:
    """Logarithmic spirals with the true arm number ("more than 4" → 5 or 6) and pitch angle, a
    random phase, starting outside the bulge (or the bar)."""
    f32 = np.float32
    j = np.nonzero(arms > 0)[0]
    k = d.idx[j]
    m = np.where(arms[j] >= 5, rng.integers(5, 7, len(j)), arms[j]).astype(f32)[:, None, None]
    tanp = np.tan(np.radians(g.col("true_pitch_deg")[k])).astype(f32)[:, None, None]
    theta = np.arctan2(d.w[j], d.u[j])
    phase = m * (theta - np.log(d.r[j] / d.h[j]) / tanp) + rng.uniform(0, 2 * np.pi, (len(j), 1, 1))
    shape = ((1 + np.cos(phase)) / 2) ** 3
    r_in = np.where(g.col("true_bar")[k], 0.42, 0.22)[:, None, None] * g.r90[k, None, None]
    arm_map = shape * np.exp(-d.r[j] / (1.3 * d.h[j])) * (1 - np.exp(-(d.r[j] / r_in) ** 2))
    add_light(img, k, arm_map, (1 - g.bt[k]) * f_arm[j], _BLUE)


def _add_bar(img: np.ndarray, g: Batch, k: np.ndarray, ud: np.ndarray, wd: np.ndarray,
             rng: np.random.Generator) -> None:
    """A bar of half-length 0.38–0.48 R90 at a random angle in the disk plane, 16–22 % of the light."""
    ang = rng.uniform(0, np.pi, len(k)).astype(np.float32)[:, None, None]
    xb = ud * np.cos(ang) + wd * np.sin(ang)
    yb = -ud * np.sin(ang) + wd * np.cos(ang)
    length = g.r90[k, None, None] * rng.uniform(0.38, 0.48, (len(k), 1, 1)).astype(np.float32)
    width = np.maximum(g.r90[k, None, None] * 0.09, 0.9)
    add_light(img, k, np.exp(-(xb / length) ** 4 - (yb / width) ** 2), rng.uniform(0.16, 0.22, len(k)),
              _OLD)


def add_ring(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """A blue ring at 0.6–0.85 R90 (in the disk plane; round-ish around ellipticals)."""
    i = g.rows("ring")
    if not len(i):
        return
    f32 = np.float32
    qr = np.where(g.smooth[i], rng.uniform(0.6, 1.0, len(i)), g.q[i]).astype(f32)[:, None, None]
    rr = np.sqrt(g.u[i] ** 2 + (g.w[i] / qr) ** 2)
    radius = g.r90[i, None, None] * rng.uniform(0.6, 0.85, (len(i), 1, 1)).astype(f32)
    width = np.maximum(g.r90[i, None, None] * 0.06, 0.8)
    add_light(img, i, np.exp(-0.5 * ((rr - radius) / width) ** 2), rng.uniform(0.3, 0.4, len(i)), _BLUE)


def add_lens_arc(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """A gravitationally lensed arc at ~R90 and a fainter counter-image on the other side."""
    i = g.rows("lens_or_arc")
    if not len(i):
        return
    f32 = np.float32
    x, y, r90 = g.x[i], g.y[i], g.r90[i, None, None]
    rr, th = np.sqrt(x ** 2 + y ** 2), np.arctan2(y, x)
    th0 = rng.uniform(-np.pi, np.pi, (len(i), 1, 1)).astype(f32)
    radius = r90 * rng.uniform(0.95, 1.25, (len(i), 1, 1)).astype(f32)
    width = np.maximum(r90 * 0.04, 0.7)
    arc = np.exp(-0.5 * ((rr - radius) / width) ** 2) * np.exp(-0.5 * (_wrap(th - th0) / 0.55) ** 2)
    counter = np.exp(-0.5 * ((rr - 0.7 * radius) / width) ** 2) * np.exp(
        -0.5 * (_wrap(th - th0 - np.pi) / 0.3) ** 2)
    add_light(img, i, arc + 0.3 * counter, rng.uniform(0.22, 0.3, len(i)), _ARC)


def add_clumps(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Star-forming knots within 0.77 R90: six bright ones make an irregular, three faint ones
    roughen a disturbed galaxy."""
    disturbed = g.disturbed
    i = np.nonzero((g.col("true_odd_feature") == "irregular") | disturbed)[0]
    if not len(i):
        return
    f32, k_cl = np.float32, 6
    r90 = g.r90[i, None]
    rad = r90 * np.sqrt(rng.uniform(0.0, 0.6, (len(i), k_cl)))
    ang = rng.uniform(0, 2 * np.pi, (len(i), k_cl))
    cx, cy = (rad * np.cos(ang)).astype(f32), (rad * np.sin(ang)).astype(f32)
    sig = np.maximum(r90 * rng.uniform(0.05, 0.1, (len(i), k_cl)), 0.8).astype(f32)
    amp = rng.uniform(0.5, 1.0, (len(i), k_cl)).astype(f32)
    amp[disturbed[i], 3:] = 0.0  # disturbed: a few knots, irregular: six
    blobs = (amp[:, :, None, None] * np.exp(-0.5 * ((g.x[i, None] - cx[:, :, None, None]) ** 2
                                                   + (g.y[i, None] - cy[:, :, None, None]) ** 2)
                                           / sig[:, :, None, None] ** 2)).sum(axis=1)
    add_light(img, i, blobs, np.where(disturbed[i], 0.15, 0.45), _BLUE)


def add_plume(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Disturbed galaxies: an offset, elongated plume of disk-coloured light 0.7 R90 out."""
    i = g.rows("disturbed")
    if not len(i):
        return
    ang = rng.uniform(0, 2 * np.pi, len(i)).astype(np.float32)[:, None, None]
    r90 = g.r90[i, None, None]
    xp = g.x[i] - 0.7 * r90 * np.cos(ang)
    yp = g.y[i] - 0.7 * r90 * np.sin(ang)
    along = xp * np.cos(ang) + yp * np.sin(ang)
    across = -xp * np.sin(ang) + yp * np.cos(ang)
    plume = np.exp(-0.5 * (along / (0.6 * r90)) ** 2 - 0.5 * (across / (0.25 * r90)) ** 2)
    add_light(img, i, plume, 0.2, g.disk_col[i])


def add_merger(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Mergers: a Sérsic-2 companion 0.8–1.2 R90 away and a tidal tail, a one-armed log spiral
    (pitch 28°) that starts outside the body on the side facing away from the companion."""
    i = g.rows("merger")
    if not len(i):
        return
    f32 = np.float32
    x, y, r90 = g.x[i], g.y[i], g.r90[i]
    ang = rng.uniform(0, 2 * np.pi, len(i)).astype(f32)
    dist_c = r90 * rng.uniform(0.8, 1.2, len(i)).astype(f32)
    xc = x - (dist_c * np.cos(ang))[:, None, None]
    yc = y - (dist_c * np.sin(ang))[:, None, None]
    rc = np.sqrt(xc ** 2 + yc ** 2 + 0.3)
    re_c = (r90 * rng.uniform(0.15, 0.25, len(i)))[:, None, None]
    add_light(img, i, _sersic(rc, re_c, 2), rng.uniform(0.3, 0.55, len(i)), g.disk_col[i])
    rr, th = np.sqrt(x ** 2 + y ** 2) + 1e-3, np.arctan2(y, x)
    sign = np.where(rng.random(len(i)) < 0.5, -1.0, 1.0).astype(f32)[:, None, None]
    r0 = 0.6 * r90[:, None, None]
    th_tail = (ang + np.pi * 0.9)[:, None, None] + sign * np.log(rr / r0) / np.tan(np.radians(28))
    along = np.clip(rr / r0, 0, None)
    tail = np.exp(-0.5 * (_wrap(th - th_tail) * rr / np.maximum(0.08 * r90[:, None, None], 1.0)) ** 2)
    tail *= ((along > 1.0) * np.exp(-(along - 1.0) / 1.5)).astype(f32)
    add_light(img, i, tail, rng.uniform(0.15, 0.22, len(i)), _BLUE)


def add_foreground_star(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Odd feature "other": a bright foreground star 0.4–0.8 R90 from the centre."""
    i = g.rows("other")
    if not len(i):
        return
    ang = rng.uniform(0, 2 * np.pi, len(i))
    d0 = g.r90[i] * rng.uniform(0.4, 0.8, len(i))
    xs = g.x[i] - (d0 * np.cos(ang)).astype(np.float32)[:, None, None]
    ys = g.y[i] - (d0 * np.sin(ang)).astype(np.float32)[:, None, None]
    add_light(img, i, np.exp(-0.5 * (xs ** 2 + ys ** 2) / 0.3), rng.uniform(0.8, 1.5, len(i)), _STAR)


def add_star_or_artifact(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Class "star or artifact": a star with diffraction spikes, or (40 %) a satellite trail."""
    i = np.nonzero(g.col("true_class") == "star_or_artifact")[0]
    if not len(i):
        return
    x, y, size = g.x[i], g.y[i], g.size
    trail = rng.random(len(i)) < 0.4
    spikes = np.exp(-0.5 * (x ** 2 + y ** 2) / 0.3)
    spikes += 0.004 * (np.exp(-np.abs(x) / (0.12 * size) - 0.5 * y ** 2 / 0.1)
                       + np.exp(-np.abs(y) / (0.12 * size) - 0.5 * x ** 2 / 0.1))
    ang = rng.uniform(0, np.pi, len(i)).astype(np.float32)[:, None, None]
    line = np.exp(-0.5 * ((-x * np.sin(ang) + y * np.cos(ang) - 3.0) / 0.6) ** 2)
    add_light(img, i, np.where(trail[:, None, None], line + 0.3 * spikes, spikes), 0.08, _STAR)


def absorb_dust_lane(img: np.ndarray, g: Batch, rng: np.random.Generator) -> None:
    """Dust-lane absorption along a line through the centre, before the PSF: along the major axis
    of edge-on disks (and of 60 % of the others), optical depth τ_r 2.5–4, ``DUST_K`` per band
    (g absorbed more than i, so the lane is dark and red). D-ETGs' τ is scaled by
    ``g.detg_lane_depth`` (the same random draws, so every other galaxy keeps its image)."""
    i = np.nonzero(g.col("true_dust_lane"))[0]
    if not len(i):
        return
    f32 = np.float32
    edge, x, y, r90 = g.col("true_edge_on")[i], g.x[i], g.y[i], g.r90[i]
    along_major = edge | (rng.random(len(i)) < 0.6)
    alpha = np.where(along_major, g.pa[i] + rng.normal(0, 0.15, len(i)), rng.uniform(0, np.pi, len(i)))
    alpha = alpha.astype(f32)[:, None, None]
    shift = np.where(edge, 0.0, rng.normal(0, 0.04, len(i)) * r90)
    d = -x * np.sin(alpha) + y * np.cos(alpha) - shift.astype(f32)[:, None, None]
    l_ = x * np.cos(alpha) + y * np.sin(alpha)
    width = np.where(edge, np.maximum(0.05 * r90, 0.8), np.maximum(0.09 * r90, 1.2))
    width = width.astype(f32)[:, None, None]
    tau = rng.uniform(2.5, 4.0, len(i)).astype(f32)
    tau = np.where(g.col("true_detg")[i], tau * f32(g.detg_lane_depth), tau)[:, None, None]  # × 1: exact
    tau_map = tau * np.exp(-0.5 * (d / width) ** 2 - 0.5 * (l_ / (1.1 * r90[:, None, None])) ** 2)
    img[i] *= np.exp(-tau_map[:, None] * DUST_K[None, :, None, None])


# The order of the drawing steps is the order of the random draws: keep it, or a seed changes.
DRAWING_STEPS = (add_spheroid, add_disk, add_ring, add_lens_arc, add_clumps, add_plume, add_merger,
                 add_foreground_star, add_star_or_artifact, absorb_dust_lane)
