"""Tiny drawn elliptical galaxies with and without a dust lane of known angle and depth, shared by the
lane-statistic and lane-table tests."""
from __future__ import annotations

import numpy as np

from raregal.mock.gz2.components import DUST_K
from raregal.mock.gz2.rendering import lupton_rgb
from raregal.paper_b import lane_statistic

SIZE, FOV = 64, 4.24  # the mock's images: R90 ≈ 15 px
R90 = SIZE / FOV
OLD_STARS = np.array([0.5, 1.0, 1.4])  # g/r, 1, i/r of an early type (mock colours)
ANY_LANE = lane_statistic.LaneCalibration(depth_threshold=0.0, colour_threshold=0.0, target_fpr=0.05,
                                          fov_r90=FOV)


def draw(n: int = 1, lane_angle_deg: float | None = None, tau: float = 3.0, q: float = 0.7,
         pa_deg: float = 20.0, noise: float = 0.02, seed: int = 0,
         lane_width_r90: float = 0.09) -> np.ndarray:
    """uint8 (n, 64, 64, 3) smooth elliptical (de Vaucouleurs light, old-star colour, Gaussian PSF, sky
    noise, Lupton RGB = i, r, g), optionally crossed through the centre by a dust lane of optical depth
    ``tau`` in r (g absorbed more than i, as the mock's ``absorb_dust_lane``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] - (SIZE - 1) / 2
    pa = np.radians(pa_deg)
    u, w = xx * np.cos(pa) + yy * np.sin(pa), -xx * np.sin(pa) + yy * np.cos(pa)
    r = np.sqrt(u ** 2 + (w / q) ** 2 + 0.3)
    light = np.exp(-7.67 * ((r / (R90 / 2.8)) ** 0.25 - 1))
    bands = OLD_STARS[:, None, None] * light[None] / light.sum() * 40.0
    if lane_angle_deg is not None:
        a = np.radians(lane_angle_deg)
        across = -xx * np.sin(a) + yy * np.cos(a)
        along = xx * np.cos(a) + yy * np.sin(a)
        tau_map = tau * np.exp(-0.5 * (across / max(lane_width_r90 * R90, 1.2)) ** 2
                               - 0.5 * (along / (1.1 * R90)) ** 2)
        bands = bands * np.exp(-tau_map[None] * DUST_K[:, None, None])
    k2 = np.fft.fftfreq(SIZE)[:, None] ** 2 + np.fft.fftfreq(SIZE)[None, :] ** 2
    bands = np.real(np.fft.ifft2(np.fft.fft2(bands) * np.exp(-2 * np.pi ** 2 * 1.2 ** 2 * k2)))
    bands = bands[None] + noise * rng.standard_normal((n, 3, SIZE, SIZE))
    return lupton_rgb(bands[:, 2], bands[:, 1], bands[:, 0], stretch=0.5, Q=8.0)

