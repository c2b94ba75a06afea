"""The dust-lane statistic (raregal.paper_b.lane_statistic) on tiny drawn galaxies with known lanes."""
from __future__ import annotations

import numpy as np
import pytest
from drawn_galaxies import ANY_LANE, FOV, OLD_STARS, R90, SIZE, draw

from raregal.mock.gz2.rendering import lupton_rgb
from raregal.paper_b import lane_statistic


def test_smooth_elliptical_without_lane_has_its_maximum_on_the_band():
    ims = np.concatenate([draw(4, q=q, pa_deg=pa, seed=s) for s, (q, pa) in
                          enumerate([(1.0, 0.0), (0.7, 20.0), (0.5, 75.0), (0.4, 140.0)])])
    stats = lane_statistic.lane_statistic(ims, FOV)
    assert np.all(stats.depth <= 0.0), stats.depth
    assert not lane_statistic.flag(stats, ANY_LANE).any()


@pytest.mark.parametrize("angle", [0.0, 37.0, 90.0, 143.0, 171.0])
def test_a_dark_red_band_through_the_centre_is_flagged_at_any_angle(angle):
    stats = lane_statistic.lane_statistic(draw(3, lane_angle_deg=angle, pa_deg=20.0, seed=1), FOV)
    assert lane_statistic.flag(stats, ANY_LANE).all(), (stats.depth, stats.colour)
    assert np.all(stats.depth > 0.05) and np.all(stats.colour > 0.0)
    off = np.degrees(np.abs(stats.angle - np.radians(angle))) % 180  # the band found lies along the lane:
    assert np.all(np.minimum(off, 180 - off) <= 20.0), np.degrees(stats.angle)  # ±5 px band: ~±15°


def test_depth_grows_with_optical_depth():
    depth = [lane_statistic.lane_statistic(draw(1, lane_angle_deg=60.0, tau=tau, noise=0.0), FOV).depth[0]
             for tau in (0.25, 0.5, 1.0, 2.0, 3.0, 4.0)]
    assert np.all(np.diff(depth) > 0), depth
    assert depth[0] < 0 < depth[3]  # a faint band does not beat the galaxy's peak; mock lanes (τ 2.5–4) do


def test_a_grey_band_is_dark_but_not_red():
    """Absorption equal in all bands (no reddening): a dip, but no red colour — colour tells lanes apart."""
    ims = draw(2, lane_angle_deg=30.0, seed=3)
    red = lane_statistic.lane_statistic(ims, FOV).colour
    grey_k = lane_statistic.lane_statistic(_grey_lane(), FOV)
    assert grey_k.depth[0] > 0.05
    assert grey_k.colour[0] < red.min() - 0.02


def _grey_lane() -> np.ndarray:
    """One noiseless elliptical crossed by a band dimming g, r and i alike (τ = 3)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] - (SIZE - 1) / 2
    r = np.sqrt(xx ** 2 + (yy / 0.7) ** 2 + 0.3)
    light = np.exp(-7.67 * ((r / (R90 / 2.8)) ** 0.25 - 1))
    across = -xx * np.sin(np.radians(30)) + yy * np.cos(np.radians(30))
    light = light / light.sum() * 40.0 * np.exp(-3.0 * np.exp(-0.5 * (across / 1.35) ** 2))
    bands = OLD_STARS[:, None, None] * light[None]
    return lupton_rgb(bands[None, 2], bands[None, 1], bands[None, 0], stretch=0.5, Q=8.0)


def test_results_do_not_depend_on_the_batch():
    ims = np.concatenate([draw(3, seed=5), draw(2, lane_angle_deg=120.0, seed=6)])
    whole = lane_statistic.lane_statistic(ims, FOV)
    in_twos = lane_statistic.lane_statistic(ims, FOV, batch_size=2)
    np.testing.assert_allclose(whole.depth, in_twos.depth, atol=1e-6)
    np.testing.assert_array_equal(whole.angle, in_twos.angle)


def test_calibration_hits_its_false_positive_target():
    rng = np.random.default_rng(0)
    n_neg, n_pos = 4000, 400
    labels = np.r_[np.zeros(n_neg, bool), np.ones(n_pos, bool)]
    depth = np.r_[rng.normal(0.0, 0.05, n_neg), rng.normal(0.15, 0.05, n_pos)]
    colour = np.r_[rng.normal(0.0, 0.01, n_neg), rng.normal(0.03, 0.01, n_pos)]
    stats = lane_statistic.LaneStats(depth, colour, np.zeros(len(depth)), np.zeros(len(depth)))
    for target in (0.02, 0.1):
        cal = lane_statistic.calibrate_stats(stats, labels, target, FOV, seed=1)
        fpr = lane_statistic.flag(stats, cal)[~labels].mean()
        assert target - 0.015 <= fpr <= target + 0.015, (target, fpr)  # tight, not just conservative
        assert abs(cal.heldout["fpr"] - target) <= 0.02
        assert cal.heldout["tpr"] > 0.9 and cal.heldout["n_negative"] == n_neg // 2
        assert cal.depth_threshold >= 0.0  # a lane is a dip: never a negative depth threshold


def test_calibrate_on_drawn_images():
    neg = np.concatenate([draw(6, q=q, seed=10 + s) for s, q in enumerate((1.0, 0.8, 0.6, 0.5))])
    pos = np.concatenate([draw(4, lane_angle_deg=a, tau=t, seed=20 + s)
                          for s, (a, t) in enumerate([(10, 2.5), (70, 3.0), (120, 3.5), (160, 4.0)])])
    labels = np.r_[np.zeros(len(neg), bool), np.ones(len(pos), bool)]
    cal = lane_statistic.calibrate(np.concatenate([neg, pos]), labels, 0.05, FOV, basis="drawn")
    assert cal.heldout["tpr"] == 1.0 and cal.heldout["fpr"] == 0.0
    assert cal.basis == "drawn" and cal.heldout["n_positive"] == 8


@pytest.mark.parametrize("images, problem", [
    (np.zeros((2, 64, 64, 3), np.float32), "uint8"),
    (np.zeros((2, 64, 64), np.uint8), "shape"),
    (np.zeros((2, 64, 64, 4), np.uint8), "shape"),
    (np.zeros((2, 64, 48, 3), np.uint8), "square"),
    (np.zeros((0, 64, 64, 3), np.uint8), "no images"),
    ([[0]], "numpy array"),
])
def test_bad_images_are_a_clear_error(images, problem):
    with pytest.raises((TypeError, ValueError), match=problem):
        lane_statistic.lane_statistic(images, FOV)


def test_a_field_narrower_than_the_band_is_a_clear_error():
    with pytest.raises(ValueError, match="too small for the band"):
        lane_statistic.lane_statistic(draw(1), fov_r90=0.5)


def test_coarse_images_are_upsampled_and_keep_their_lane():
    """The smoke model draws 16 px images; a lane that survives the pixels is still found."""
    from raregal.core.images import resize

    lanes, smooth = draw(2, lane_angle_deg=50.0, tau=4.0, seed=8), draw(2, seed=8)
    coarse = [np.round(resize(x.transpose(0, 3, 1, 2), 24)).astype(np.uint8).transpose(0, 2, 3, 1)
              for x in (lanes, smooth)]
    stats = [lane_statistic.lane_statistic(x, FOV) for x in coarse]
    assert np.all(stats[0].depth > 0) and np.all(stats[1].depth <= 0), (stats[0].depth, stats[1].depth)
    assert np.isfinite(lane_statistic.lane_statistic(draw(1)[:, ::4, ::4], FOV).depth).all()  # 16 px


def test_bad_labels_are_a_clear_error():
    ims = draw(4)
    with pytest.raises(ValueError, match="bool array of one value per image"):
        lane_statistic.calibrate(ims, np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="bool array of one value per image"):
        lane_statistic.calibrate(ims, np.array([True, False]))
    with pytest.raises(ValueError, match="≥ 2 images with"):
        lane_statistic.calibrate(ims, np.array([True, False, False, False]))
    with pytest.raises(ValueError, match="target_fpr"):
        lane_statistic.calibrate(ims, np.array([True, True, False, False]), target_fpr=0.0)


@pytest.mark.parametrize("colour", [0.0125, -np.inf])
def test_calibration_json_round_trips(tmp_path, colour):
    cal = lane_statistic.LaneCalibration(0.0031, colour, 0.05, 4.24,
                                         {"fpr": 0.049, "tpr": 0.78, "n_negative": 3968, "n_positive": 188},
                                         "mock truth")
    path = lane_statistic.save_calibration(cal, tmp_path / "lanes" / "calibration.json")
    assert lane_statistic.load_calibration(path) == cal


def test_a_file_that_is_no_calibration_is_a_clear_error(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"depth_threshold": 0.1}')
    with pytest.raises(ValueError, match="not a lane calibration"):
        lane_statistic.load_calibration(path)


def test_the_rule_in_words():
    assert ANY_LANE.rule == "depth > 0.0000, colour ≥ 0.0000"
    no_colour = lane_statistic.LaneCalibration(0.0123, -np.inf, 0.05, FOV)
    assert no_colour.rule == "depth > 0.0123, no colour cut"
