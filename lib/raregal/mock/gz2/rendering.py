"""Drawing the paper B mock images: GZ2-like gri surface brightness, PSF, sky noise, Lupton asinh
colour stretch.

Why procedural: the diffusion, SimCLR and classifier stages of Ma et al. (2025) need images where
every GZ2 feature is visible exactly where the truth says it is.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# colours as (g/r, 1, i/r) flux ratios
COLOURS = {"old": (0.50, 1.0, 1.40), "young": (0.85, 1.0, 1.12), "star": (0.70, 1.0, 1.2)}
BANDS = ("g", "r", "i")
# nanomaggies per SDSS 0.396" pixel: 0.35 × SDSS single-epoch depth (≈ Stripe-82-like coadd), so
# disks, arms and lanes stay visible at 64 px; the real images are noisier.
SKY_SIGMA = np.array([0.050, 0.045, 0.070], np.float32) * 0.35
SDSS_PIX = 0.396
DUST_K = np.array([1.30, 1.0, 0.75], np.float32)  # lane optical depth per band relative to r
STRETCH = {"stretch": 1.0, "Q": 8.0}  # Lupton asinh on surface brightness (nmgy / arcsec^2)
RENDER_BATCH = 256  # galaxies per render batch at 64 px (≈180 MiB); fewer at larger sizes


def render_batch_size(size: int) -> int:
    """Galaxies per batch at ``size`` px: memory stays ≈ that of 256 at 64 px. Fixed per size, so a
    seed gives the same images whatever the caller does."""
    return int(np.clip(RENDER_BATCH * (64 / size) ** 2, 8, RENDER_BATCH))


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
