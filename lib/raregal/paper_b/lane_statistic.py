"""Does an image show a dark, red band through the galaxy centre? A dust-lane statistic for the D-ETGs
of Ma et al. (2025) §4.3, on real and generated images alike.

Why: notebook 08's paired-seed test (``B-prompt-effect``) says how far a phrase moves the pixels, not
*what* moved. A lane has a signature a smooth galaxy cannot fake: light falls along a line through the
centre (a smooth galaxy peaks there) and the band is redder than its sides (dust absorbs g more than i;
RGB = i, r, g). For ``N_ANGLES`` band angles (searched: a generated lane may lie off the major axis) and
a few small offsets, the light profile across the band is averaged over the band's inner part, and

- ``depth`` = (fainter side strip − central strip) / the galaxy's brightest strip through the centre,
  background subtracted: > 0 only when the centre is darker than *both* sides (≤ 0 without a lane);
- ``colour`` = redness (R − B) / (R + G + B) of the central strip minus that of the two side strips;

at the angle and offset of the largest depth. Lengths are in R90 (GZ2's field scales with the galaxy),
so 64 px mock and 424 px images read alike. The strips are one linear map of the pixels (bilinear,
built once per size): a matrix product, thousands of 64 px images per second on one CPU thread.

A calibration turns the two numbers into a flag (:func:`calibrate`: thresholds fitted on labelled
images to a false-positive target), saved as JSON that later steps read back.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

# Band geometry in R90 (the mock lane is 0.05–0.09 R90 wide, ≈ 1 px at 64 px over 4.24 R90; a
# generated lane is wider). Chosen on the default mock: side strips 2 px out and a ±1 px offset search
# keep edge-on and face-on disks without a lane at ≤ 5 % flagged while finding most D-ETG lanes.
HALF_LENGTH_R90 = 0.33  # the band is averaged over |along| ≤ this: its inner part, where the light is
SIDE_R90 = 0.13  # side strips this far either side of the central one
OFFSETS_R90 = (-0.066, -0.033, 0.0, 0.033, 0.066)  # band centre offsets searched (lanes sit ~on centre)
STEP_R90 = 0.033  # sampling step across and along the band
N_ANGLES = 36  # band angles over 180° (5° apart)
BORDER_FRACTION = 0.05  # outer frame of the image whose median is the sky background
TARGET_FPR = 0.05  # default false-positive rate on early types without a lane


@dataclass(frozen=True)
class LaneStats:
    """Per-image lane statistic (arrays of length N).

    ``depth`` [fraction of the brightest central strip], ``colour`` [redness difference],
    ``angle`` [rad, band direction counter-clockwise from the +x (column) axis toward +y (row), in
    [0, π)], ``offset`` [R90, band centre from the image centre].
    """

    depth: np.ndarray
    colour: np.ndarray
    angle: np.ndarray
    offset: np.ndarray

    def __len__(self) -> int:
        return len(self.depth)

    @staticmethod
    def concat(parts: list["LaneStats"]) -> "LaneStats":
        """One LaneStats of ``parts`` in order (empty arrays when there are none)."""
        fields = ("depth", "colour", "angle", "offset")
        return LaneStats(*(np.concatenate([getattr(p, f) for p in parts]) if parts else np.empty(0)
                           for f in fields))


@dataclass(frozen=True)
class LaneCalibration:
    """Thresholds of the lane flag and how they were fitted (the JSON artifact).

    An image is flagged when ``depth > depth_threshold`` and ``colour >= colour_threshold``.
    ``heldout`` holds the false- and true-positive rates measured on the half of the labelled images
    that the fit did not see (``fpr``, ``tpr``, ``n_negative``, ``n_positive``).
    """

    depth_threshold: float
    colour_threshold: float
    target_fpr: float
    fov_r90: float
    heldout: dict = field(default_factory=dict)
    basis: str = ""  # what the labels were, e.g. "mock truth" or "volunteer tags"

    @property
    def rule(self) -> str:
        """The flag in words, for captions."""
        colour = self.colour_threshold
        cut = "no colour cut" if np.isneginf(colour) else f"colour ≥ {colour:.4f}"
        return f"depth > {self.depth_threshold:.4f}, {cut}"


def _check_images(images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 RGB (0–255), got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (N, S, S, 3): square RGB cutouts, got {images.shape}")
    if len(images) == 0:
        raise ValueError("no images: the lane statistic needs at least one")
    return images


@lru_cache(maxsize=8)
def _strip_operator(size: int, fov_r90: float) -> tuple[slice, np.ndarray, np.ndarray, np.ndarray]:
    """The linear map from the central box of a ``size`` px image to its strip means.

    Returns the box slice, the matrix (box pixels, angles × across-positions), the angles [rad] and
    the across-band positions [R90]. Bilinear samples every ``STEP_R90`` along and across each band.
    """
    r90 = size / fov_r90  # px per R90
    step = STEP_R90 * r90
    reach = SIDE_R90 + max(abs(o) for o in OFFSETS_R90)
    n_across, n_along = int(round(reach / STEP_R90)), int(round(HALF_LENGTH_R90 / STEP_R90))
    across = np.arange(-n_across, n_across + 1) * step
    along = np.arange(-n_along, n_along + 1) * step
    radius = int(np.ceil(np.hypot(across[-1], along[-1]))) + 2
    centre = (size - 1) / 2
    lo, hi = int(np.floor(centre)) - radius, int(np.ceil(centre)) + radius + 1
    if lo < 0 or hi > size:
        raise ValueError(f"an image that spans {fov_r90} R90 is too small for the band: it needs "
                         f"±{HALF_LENGTH_R90 + SIDE_R90:.2f} R90 around the centre")
    box = hi - lo
    angles = np.arange(N_ANGLES) * np.pi / N_ANGLES
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    x = centre - lo + along[None, None, :] * cos - across[None, :, None] * sin
    y = centre - lo + along[None, None, :] * sin + across[None, :, None] * cos
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    column = np.arange(N_ANGLES)[:, None] * len(across) + np.arange(len(across))
    column = np.broadcast_to(column[:, :, None], x.shape)
    matrix = np.zeros((box * box, N_ANGLES * len(across)), np.float64)
    for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy),
                           (1, 1, fx * fy)):
        np.add.at(matrix, ((y0 + dy) * box + x0 + dx, column), weight / len(along))
    return slice(lo, hi), matrix.astype(np.float32), angles, across / r90


def _background(images: np.ndarray) -> np.ndarray:
    """(N, 3) sky level per channel: the median of the image's outer frame."""
    n, size = len(images), images.shape[1]
    b = max(2, int(round(BORDER_FRACTION * size)))
    parts = (images[:, :b], images[:, -b:], images[:, b:-b, :b], images[:, b:-b, -b:])
    frame = np.concatenate([part.reshape(n, -1, 3) for part in parts], axis=1)
    return np.median(frame, axis=1).astype(np.float32)


def _batch_statistic(images: np.ndarray, fov_r90: float) -> tuple[np.ndarray, ...]:
    min_size = int(np.ceil(fov_r90 / SIDE_R90))  # side strips ≥ 1 px from the band
    if images.shape[1] < min_size:  # upsampled: a sub-pixel lane is lost anyway, the geometry must hold
        from raregal.core.images import resize

        up = resize(images.transpose(0, 3, 1, 2), min_size).transpose(0, 2, 3, 1)
        images = np.clip(np.round(up), 0, 255).astype(np.uint8)
    n, size = len(images), images.shape[1]
    box, matrix, angles, across = _strip_operator(size, float(fov_r90))
    pixels = images[:, box, box].transpose(0, 3, 1, 2).reshape(n * 3, -1).astype(np.float32)
    strips = (pixels @ matrix).reshape(n, 3, N_ANGLES, len(across)).transpose(0, 2, 3, 1)
    strips = strips - _background(images)[:, None, None, :]  # (N, angle, across, RGB)
    light = strips.sum(-1)
    mid, side = len(across) // 2, int(round(SIDE_R90 / STEP_R90))
    contrast = np.maximum(light[:, :, mid].max(axis=1), 1.0)[:, None]
    depths, colours = [], []
    for offset in OFFSETS_R90:
        j = mid + int(round(offset / STEP_R90))
        sides = strips[:, :, j - side] + strips[:, :, j + side]
        depths.append((np.minimum(light[:, :, j - side], light[:, :, j + side]) - light[:, :, j]) / contrast)
        red_mid = (strips[:, :, j, 0] - strips[:, :, j, 2]) / np.maximum(light[:, :, j], 1.0)
        red_sides = (sides[..., 0] - sides[..., 2]) / np.maximum(sides.sum(-1), 1.0)
        colours.append(red_mid - red_sides)
    depth = np.stack(depths, -1).reshape(n, -1)  # (N, angle × offset)
    best = depth.argmax(axis=1)
    rows = np.arange(n)
    return (depth[rows, best], np.stack(colours, -1).reshape(n, -1)[rows, best],
            angles[best // len(OFFSETS_R90)], np.asarray(OFFSETS_R90)[best % len(OFFSETS_R90)])


def lane_statistic(images: np.ndarray, fov_r90: float = 4.24, batch_size: int = 2048) -> LaneStats:
    """How strongly a dark, red band crosses the centre of each image (see the module docstring).

    Parameters
    ----------
    images : uint8 array (N, S, S, 3)
        RGB galaxy images centred on the galaxy (GZ2 JPEGs, the image store, generated samples);
        images too coarse for the band (side strips < 1 px, e.g. the smoke model's 16 px) are first
        upsampled (bilinear) to the smallest size that holds it.
    fov_r90 : float
        Image side in units of the galaxy's R90 (the profile's ``survey_b.fov_r90``; mock 4.24).
    batch_size : int
        Images per matrix product (memory only; results do not depend on it).

    Returns
    -------
    LaneStats
        ``depth`` (> 0: the centre strip is darker than both sides, as a fraction of the brightest
        central strip), ``colour`` (band redness minus side redness), the band ``angle`` [rad] and
        ``offset`` [R90] where the depth is largest.
    """
    images = _check_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    parts = [LaneStats(*_batch_statistic(images[i:i + batch_size], fov_r90))
             for i in range(0, len(images), batch_size)]
    return LaneStats.concat(parts)


def flag(stats: LaneStats, calibration: LaneCalibration) -> np.ndarray:
    """Bool (N,): the images whose band is deep and red enough by ``calibration``'s thresholds."""
    return (stats.depth > calibration.depth_threshold) & (stats.colour >= calibration.colour_threshold)


def _fit_thresholds(depth: np.ndarray, colour: np.ndarray, labels: np.ndarray,
                    target_fpr: float) -> tuple[float, float]:
    """(depth, colour) thresholds with false-positive rate ≤ ``target_fpr`` on the negatives and the
    largest true-positive rate: for each colour threshold (quantiles of the negatives' colour, or none),
    the smallest depth threshold — never below 0, a lane is a dip — meeting the target."""
    neg_depth, neg_colour = depth[~labels], colour[~labels]
    allowed = int(np.floor(target_fpr * len(neg_depth)))
    best = (-1.0, 0.0, -np.inf)
    for colour_cut in np.r_[-np.inf, np.quantile(neg_colour, np.linspace(0.0, 0.99, 34))]:
        passing = np.sort(neg_depth[neg_colour >= colour_cut])
        depth_cut = 0.0 if len(passing) <= allowed else max(0.0, float(passing[len(passing) - allowed - 1]))
        tpr = float(np.mean((depth[labels] > depth_cut) & (colour[labels] >= colour_cut)))
        if tpr > best[0]:
            best = (tpr, depth_cut, float(colour_cut))
    return best[1], best[2]


def calibrate(images: np.ndarray, labels: np.ndarray, target_fpr: float = TARGET_FPR, fov_r90: float = 4.24,
              seed: int = 0, basis: str = "") -> LaneCalibration:
    """Fit the lane flag on labelled real images: ≤ ``target_fpr`` of the negatives flagged.

    Half of each class (at random, ``seed``) fits the thresholds, the other half measures them
    (``heldout``). Labels on the mock come from the truth (``true_detg`` vs early types without
    ``true_dust_lane``); real data has no truth, so from notebook 07's tags: early types tagged
    ``dust_lane`` or ``known_detg`` vs early types without the tag (:func:`reference_groups`).

    Parameters
    ----------
    images : uint8 (N, S, S, 3) real galaxy images. labels : bool (N,), True = a dust lane.
    target_fpr : false-positive rate allowed on the negatives, in (0, 1). fov_r90 : image side [R90].
    seed : the fit/held-out split. basis : what the labels are (recorded in the calibration).

    Returns
    -------
    LaneCalibration
    """
    return calibrate_stats(lane_statistic(images, fov_r90), labels, target_fpr, fov_r90, seed, basis)


def calibrate_stats(stats: LaneStats, labels: np.ndarray, target_fpr: float = TARGET_FPR,
                    fov_r90: float = 4.24, seed: int = 0, basis: str = "") -> LaneCalibration:
    """:func:`calibrate` on statistics already computed (same split, same fit)."""
    labels = np.asarray(labels)
    if labels.dtype != bool or labels.shape != (len(stats),):
        raise ValueError(f"labels must be a bool array of one value per image ({len(stats)}), "
                         f"got dtype {labels.dtype}, shape {labels.shape}")
    if not 0 < target_fpr < 1:
        raise ValueError(f"target_fpr must be in (0, 1), got {target_fpr}")
    if labels.sum() < 2 or (~labels).sum() < 2:
        raise ValueError(f"calibration needs ≥ 2 images with and ≥ 2 without a lane, got "
                         f"{int(labels.sum())} and {int((~labels).sum())}")
    rng = np.random.default_rng(seed)
    fit = np.zeros(len(labels), bool)
    for cls in (True, False):
        rows = rng.permutation(np.nonzero(labels == cls)[0])
        fit[rows[:len(rows) // 2]] = True
    depth_cut, colour_cut = _fit_thresholds(stats.depth[fit], stats.colour[fit], labels[fit], target_fpr)
    calibration = LaneCalibration(depth_cut, colour_cut, target_fpr, float(fov_r90), basis=basis)
    flagged, test = flag(stats, calibration), ~fit
    heldout = {"fpr": float(flagged[test & ~labels].mean()), "tpr": float(flagged[test & labels].mean()),
               "n_negative": int((test & ~labels).sum()), "n_positive": int((test & labels).sum())}
    return LaneCalibration(depth_cut, colour_cut, target_fpr, float(fov_r90), heldout, basis)


def save_calibration(calibration: LaneCalibration, path: Path | str) -> Path:
    """Write ``calibration`` as JSON (atomic); returns the path."""
    from raregal.core.outputs import atomic_path

    path = Path(path)
    record = asdict(calibration)
    if np.isneginf(calibration.colour_threshold):  # no colour cut: JSON has no -Infinity
        record["colour_threshold"] = None
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_calibration(path: Path | str) -> LaneCalibration:
    """Read a calibration written by :func:`save_calibration`; a missing key is a clear error."""
    record = json.loads(Path(path).read_text())
    need = ["depth_threshold", "colour_threshold", "target_fpr", "fov_r90"]
    missing = [k for k in need if k not in record]
    if missing:
        raise ValueError(f"{path} is not a lane calibration: it lacks {missing}")
    colour = record["colour_threshold"]
    return LaneCalibration(float(record["depth_threshold"]), -np.inf if colour is None else float(colour),
                           float(record["target_fpr"]), float(record["fov_r90"]), record.get("heldout", {}),
                           record.get("basis", ""))
