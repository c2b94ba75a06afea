"""Drawing the paper A mock cutouts: galaxies (Sérsic bulge + exponential disk with log-spiral
arms), the Moffat PSF, faint field neighbours, sky and shot noise, and the bad cutouts.

Why: the CVAE of Gagliano & Villar (2023) learns from DECaLS grz cutouts, and its orientation and
anomaly results depend on what those look like — seeing (Moffat FWHM 1.3″), 5σ point-source depths
g 24.0, r 23.4, z 22.5, neighbours, saturated stars and missing bands. Images are nanomaggies
(m_AB = 22.5 − 2.5 log10 f), float32, (N, 3, 128, 128), bands g, r, z; orientation is the major
axis counter-clockwise from +x (column) toward +y (row) (CONTRIBUTING.md).
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from raregal.mock.survey.instrument import (
    BANDS,
    CUTOUT_SIZE,
    DEPTH_5SIGMA,
    ELECTRONS_PER_NMGY,
    MOFFAT_BETA,
    PIXEL_SCALE,
    PSF_FWHM_ARCSEC,
    SATURATION_NMGY,
)

N_NEIGHBOUR_SLOTS = 3
TRUNCATION_RE = 3.8  # profiles fade to zero between 2.8 and 3.8 R_e (disk truncation ~4 scale lengths)


def moffat_alpha(fwhm_px: float, beta: float) -> float:
    """Moffat core width α [px] of a PSF of FWHM ``fwhm_px`` [px] and index ``beta``."""
    return fwhm_px / (2 * np.sqrt(2 ** (1 / beta) - 1))


def moffat_psf(size: int, fwhm_px: float, beta: float = MOFFAT_BETA, centred: bool = True) -> np.ndarray:
    """Unit-sum Moffat PSF on a size×size grid (centred, or at pixel (0, 0) with wrap for FFTs)."""
    alpha = moffat_alpha(fwhm_px, beta)
    c = np.arange(size) - (size // 2 if centred else 0)
    if not centred:
        c = np.where(c >= size / 2, c - size, c)
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    p = (1 + r2 / alpha**2) ** -beta
    return p / p.sum()


@functools.lru_cache(maxsize=8)
def psf_otf(size: int) -> np.ndarray:
    """rfft2 of the Moffat PSF on a size×size grid centred at pixel (0, 0): convolution by product."""
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


def _column(rows: dict, name: str) -> np.ndarray:
    """A catalog column as float32 (B, 1, 1), to broadcast over a batch of stamps."""
    return rows[name].astype(np.float32)[:, None, None]


def disk_and_arms(rows: dict, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Truncated exponential disk and its two log-spiral arms (pitch 18°), unnormalised (B, S, S)."""
    f32 = np.float32
    re = np.maximum(rows["true_re_px"], 0.3)
    re_disk = (re * (1 + 0.3 * rows["true_bt"])).astype(f32)[:, None, None]
    v_d = v / _column(rows, "true_q_disk")
    r_disk = np.sqrt(u * u + v_d * v_d) / re_disk
    disk = np.exp(-1.678 * r_disk) * np.clip(TRUNCATION_RE - r_disk, 0, 1)
    arms = np.zeros_like(disk)
    a = np.flatnonzero(rows["true_arm_amplitude"] > 0)  # log-spiral arms only where there are some
    if a.size:
        r_a = np.maximum(r_disk[a], 1e-3)
        phase = 2 * (np.arctan2(v_d[a], u[a]) - np.log(r_a) / np.float32(np.tan(np.radians(18.0))))
        arms[a] = (disk[a] * _column(rows, "true_arm_amplitude")[a] * np.cos(phase)
                   * (1 - np.exp(-4 * r_a * r_a)))
    return disk, arms


def bulge_profile(rows: dict, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Truncated Sérsic bulge of index ``true_n_bulge``, unnormalised (B, S, S); 0 where B/T = 0."""
    f32 = np.float32
    bt = rows["true_bt"]
    re = np.maximum(rows["true_re_px"], 0.3)
    re_bulge = (re * (0.25 + 0.6 * bt)).astype(f32)[:, None, None]
    bulge = np.zeros(u.shape, f32)
    bb = np.flatnonzero(bt > 0)
    if bb.size:
        v_b = v[bb] / _column(rows, "true_q_bulge")[bb]
        rb2 = (u[bb] * u[bb] + v_b * v_b) / re_bulge[bb] ** 2
        n_b = rows["true_n_bulge"][bb].astype(f32)[:, None, None]
        bulge[bb] = (np.exp(-_sersic_b(n_b) * (np.exp(np.log(np.maximum(rb2, 1e-8)) / (2 * n_b)) - 1))
                     * np.clip(TRUNCATION_RE - np.sqrt(rb2), 0, 1))
    return bulge


def stamp_coordinates(rows: dict, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(B, size, size) float32 pixel offsets [px] from each galaxy centre along (u) and across (v)
    its major axis, on a stamp centred in the cutout."""
    f32 = np.float32
    c = np.arange(size, dtype=f32)
    off = (CUTOUT_SIZE - size) / 2
    dx = c[None, None, :] - (rows["true_cx"] - off).astype(f32)[:, None, None]
    dy = c[None, :, None] - (rows["true_cy"] - off).astype(f32)[:, None, None]
    phi = rows["true_orientation"]
    cp, sp = np.cos(phi).astype(f32)[:, None, None], np.sin(phi).astype(f32)[:, None, None]
    return dx * cp + dy * sp, dy * cp - dx * sp


def _galaxy_stamps(rows: dict, size: int) -> np.ndarray:
    """(B, 3, size, size) PSF-convolved noiseless galaxy images [nmgy], centred in the stamp."""
    from scipy import fft

    f32 = np.float32
    u, v = stamp_coordinates(rows, size)
    disk, arms = disk_and_arms(rows, u, v)
    bulge = bulge_profile(rows, u, v)
    del u, v

    disk_sum = np.maximum(disk.sum((1, 2), keepdims=True), 1e-20)
    disk /= disk_sum
    arms /= disk_sum  # arms modulate the unit-flux disk (they average to ~0)
    bulge /= np.maximum(bulge.sum((1, 2), keepdims=True), 1e-20)
    bt = rows["true_bt"]
    flux = np.stack([rows[f"true_flux_{b}"] for b in BANDS], 1).astype(f32)  # (B, 3)
    arm_colour = np.where(rows["true_arms_blue"][:, None], np.array([1.4, 1.0, 0.7], f32),
                          np.ones(3, f32)).astype(f32)
    fb = (flux * bt.astype(f32)[:, None])[:, :, None, None]
    fd = (flux * (1 - bt).astype(f32)[:, None])[:, :, None, None]
    img = fb * bulge[:, None] + fd * (disk[:, None] + arm_colour[:, :, None, None] * arms[:, None])
    img = fft.irfft2(fft.rfft2(img, workers=1) * psf_otf(size), s=(size, size), workers=1)
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
    alpha = moffat_alpha(PSF_FWHM_ARCSEC / PIXEL_SCALE, MOFFAT_BETA)
    r2 = (c[None, None, :] - x[:, None, None]) ** 2 + (c[None, :, None] - y[:, None, None]) ** 2
    prof = (1 + r2 / alpha**2) ** -MOFFAT_BETA
    prof *= (MOFFAT_BETA - 1) / (np.pi * alpha**2)
    r_mag = rng.uniform(9.5, 11.5, b)
    colours = np.array([0.5, 0.0, -0.3])
    for k in range(len(BANDS)):
        images[:, k] += (10 ** (-0.4 * (r_mag + colours[k] - 22.5)))[:, None, None] * prof


def star_layer(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, 128, 128) saturated foreground stars [nmgy], one per cutout (unclipped)."""
    layer = np.zeros((n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), np.float32)
    _add_bright_star(layer, rng)
    return layer


def _add_noise(images: np.ndarray, rng: np.random.Generator) -> None:
    """Sky noise at the 5σ depths plus source shot noise (``ELECTRONS_PER_NMGY``), in place."""
    sky = np.array([noise_sigma_per_pixel()[b] for b in BANDS], np.float32)[None, :, None, None]
    sigma = np.maximum(images, 0)
    sigma *= np.float32(1 / ELECTRONS_PER_NMGY)  # source shot noise variance
    sigma += sky**2
    np.sqrt(sigma, out=sigma)
    sigma *= rng.standard_normal(images.shape, dtype=np.float32)
    images += sigma


def _add_noise_and_clip(images: np.ndarray, rng: np.random.Generator, noise: bool) -> None:
    if noise:
        _add_noise(images, rng)
    np.minimum(images, SATURATION_NMGY, out=images)


def render_with(catalog: pd.DataFrame, rng: np.random.Generator, stamp_size, galaxy_stamps, add_neighbours,
                add_noise_and_clip, noise: bool = True, neighbours: bool = True) -> np.ndarray:
    """The order every renderer follows (galaxy stamps, bright stars, neighbours, noise and the
    saturation clip, missing bands), so the draws from ``rng`` come in the same order; the steps are
    the renderer's own (:func:`render_cutouts`, :func:`.fast_rendering.render_cutouts_fast`)."""
    n = len(catalog)
    rows = {c: catalog[c].to_numpy() for c in catalog.columns}
    images = np.zeros((n, len(BANDS), CUTOUT_SIZE, CUTOUT_SIZE), np.float32)
    re = rows["true_re_px"] * (1 + 0.3 * rows["true_bt"])
    sizes = stamp_size(TRUNCATION_RE * re + 5)
    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        sub = {k: v[idx] for k, v in rows.items()}
        lo = (CUTOUT_SIZE - size) // 2
        images[idx, :, lo:lo + size, lo:lo + size] = galaxy_stamps(sub, int(size))
    star = rows["true_defect"] == "bright_star"
    if star.any():
        images[star] = images[star] + star_layer(int(star.sum()), rng)
    if neighbours:
        add_neighbours(images, rng)
    add_noise_and_clip(images, rng, noise)
    missing = np.flatnonzero(rows["true_defect"] == "missing_band")
    if missing.size:
        images[missing, rng.integers(0, len(BANDS), missing.size)] = 0.0
    return images


def render_cutouts(catalog: pd.DataFrame, rng: np.random.Generator, noise: bool = True,
                   neighbours: bool = True) -> np.ndarray:
    """Render catalog rows into (N, 3, 128, 128) float32 grz cutouts [nmgy].

    Galaxies are rendered on the smallest centred stamp (32/64/128 px) that holds 3.8 R_e of their
    largest component, PSF-convolved by FFT in batches, then placed into blank cutouts; noise,
    neighbours and defects (missing band → zeros, bright star → saturated plateau) follow.

    Parameters
    ----------
    catalog : rows of :func:`sample_catalog` (the ``true_*`` and ``true_flux_<band>`` columns).
    rng : draws stars, neighbours, noise and missing bands, in that order.
    noise, neighbours : leave out the noise or the field neighbours (for tests).
    """
    return render_with(catalog, rng, _stamp_size, _galaxy_stamps, _add_neighbours, _add_noise_and_clip,
                       noise, neighbours)
