"""Paper A preprocessing (raregal.paper_a.preprocess) and orientations (raregal.paper_a.orientation):
drops, orientations, eq. 1, split, files, loader, the orientation examples figure."""
import json

import h5py
import numpy as np
import pandas as pd
import pytest

from raregal.core import config
from raregal.core.images import resize
from raregal.mock import survey
from raregal.paper_a import figures, orientation, preprocess


def galaxy(angle, q=0.35, re=5.0, flux=60.0, cx=63.5, cy=63.5, seed=0):
    row = survey.sample_catalog(1, 0, 0, 0.0, seed=seed)
    row[["true_re_px", "true_bt", "true_arm_amplitude", "true_q_disk", "true_orientation",
         "true_cx", "true_cy"]] = [re, 0.0, 0.0, q, angle, cx, cy]
    for b in survey.BANDS:
        row[f"true_flux_{b}"] = flux / 3
    return row


def render(rows, seed=0, noise=True):
    return survey.render_cutouts(pd.concat(rows, ignore_index=True), np.random.default_rng(seed),
                            noise=noise, neighbours=False)


def test_angles_are_periodic_mod_pi():
    assert orientation.wrap_angle(np.pi / 2) == pytest.approx(-np.pi / 2)
    assert orientation.wrap_angle(-np.pi / 2) == pytest.approx(-np.pi / 2)
    assert orientation.wrap_angle(np.pi + 0.3) == pytest.approx(0.3)
    assert orientation.angle_difference(1.5, -1.5) == pytest.approx(3.0 - np.pi)
    assert orientation.periodic_rms([1.55, -1.55], [-1.55, 1.55]) == pytest.approx(np.pi - 3.1)


def test_eq1_normalisation_and_resize():
    x = np.zeros((2, 3, 8, 8), np.float32)
    x[0, :, 0, 0] = [1.0, 2.0, 4.0]
    out = preprocess.normalise(x, [1.0, 2.0, 4.0], beta=10)
    np.testing.assert_allclose(out[0, :, 0, 0], np.tanh(np.arcsinh(10.0)), rtol=1e-6)
    assert out[1].max() == 0 and out.dtype == np.float32
    with pytest.raises(ValueError, match="positive"):
        preprocess.normalise(x, [1.0, 0.0, 1.0])
    raw = np.random.default_rng(1).lognormal(0, 2, (4, 3, 16, 16)).astype(np.float32)
    kept = raw.copy()
    m = np.array([0.7, 1.3, 2.9], np.float32)
    in_place = preprocess.normalise(raw, m, beta=10)  # float32 is worked in place in its output array
    np.testing.assert_array_equal(raw, kept)  # ... never in the input
    assert np.array_equal(in_place, np.tanh(np.arcsinh(np.float32(10) * raw / m[None, :, None, None])))
    img = np.full((2, 3, 128, 128), 0.25, np.float32)
    small = resize(img, 69)
    assert small.shape == (2, 3, 69, 69)
    np.testing.assert_allclose(small, 0.25, atol=1e-6)
    stripes = np.zeros((1, 1, 128, 128), np.float32)
    stripes[..., ::2] = 1.0  # above the new Nyquist: antialiasing averages it out
    assert abs(resize(stripes, 69).std()) < 0.1


def test_cutout_problems_names_each_bad_input():
    rng = np.random.default_rng(0)
    batch = rng.normal(0, 0.01, (5, 3, 32, 32)).astype(np.float32)
    batch[1, 0, 3, 3] = np.nan
    batch[2] = 0
    batch[3, 2] = 0
    batch[4, 1, 10:13, 10:13] = 100.0  # saturated plateau
    assert list(preprocess.cutout_problems(batch)) == ["", "non_finite", "all_zero", "missing_band", "saturated"]
    batch[1, 0, 3, 3] = -np.inf  # a non-finite pixel counts as 0 for the other checks, so it never hides them
    batch[1, 1] = 0
    assert preprocess.cutout_problems(batch)[1] == "non_finite"
    assert list(preprocess.cutout_problems(batch[[0, 2, 3, 4]])) == ["", "all_zero", "missing_band", "saturated"]
    with pytest.raises(preprocess.PreprocessError, match="shape"):
        preprocess.cutout_problems(batch[:, :2])
    drops = preprocess.DropLog()
    arr, ids = preprocess.stack_cutouts([batch[0], batch[0][:2], np.zeros((3, 32, 31))], [7, 8, 9], drops,
                               shape=(3, 32, 32))
    assert arr.shape == (1, 3, 32, 32) and list(ids) == [7]
    assert drops.ids["wrong_shape"] == [8, 9]
    table = drops.table(n_input=3)
    assert table.set_index("reason").loc["wrong_shape", "ours"] == 2
    with pytest.raises(preprocess.PreprocessError, match="wrong_shape=2"):
        drops.check(3, 0.5)


def test_fast_orientation_matches_truth_and_photutils():
    angles = [-1.5, -0.7, 0.0, 0.4, 1.2, 1.55]
    imgs = render([galaxy(a, seed=i) for i, a in enumerate(angles)])
    fast = orientation.orientation_fast(imgs)
    assert np.all(np.abs(orientation.angle_difference(fast["orientation"], angles)) < 0.05)
    assert (fast["centre_dist"] < 2).all() and (fast["ellipticity"] > 0.3).all()
    assert fast["orientation"].between(-np.pi / 2, np.pi / 2, inclusive="left").all()
    for img, a in zip(imgs[:3], angles):
        ref = orientation.orientation_photutils(img)
        assert abs(orientation.angle_difference(ref["orientation"], a)) < 0.05
        assert ref["centre_dist"] < 2


def test_a_lower_detection_threshold_grows_the_central_segment_in_both_paths():
    img = render([galaxy(0.7, flux=30.0, seed=2)], seed=5)
    default, low = orientation.orientation_fast(img), orientation.orientation_fast(img, nsigma=1.1)
    pd.testing.assert_frame_equal(default, orientation.orientation_fast(img, nsigma=orientation.DETECT_NSIGMA))
    assert low["area"][0] > default["area"][0] >= orientation.DETECT_NPIXELS
    assert orientation.orientation_fast(img, nsigma=1e6)["centre_dist"][0] == np.inf  # nothing detected
    ref, ref_low = orientation.orientation_photutils(img[0]), orientation.orientation_photutils(img[0], nsigma=1.1)
    assert ref_low["area"] > ref["area"]
    assert abs(orientation.angle_difference(low["orientation"][0], 0.7)) < 0.05


def test_detection_kernel_pass_equals_scipy_correlation_in_chunks_with_zeros_outside():
    from scipy import ndimage

    stacks = np.random.default_rng(4).normal(0, 1, (37, 20, 24)).astype(np.float32)  # 37: a partial chunk
    k1 = orientation._kernel().sum(0).astype(np.float32)
    ours = orientation.smooth(stacks, k1, chunk=8)
    ref = ndimage.correlate1d(ndimage.correlate1d(stacks, k1, axis=1, mode="constant"), k1, axis=2, mode="constant")
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    spike = np.zeros((1, 9, 9), np.float32)
    spike[0, 0, 4] = 1.0  # at the edge: the kernel's rows below it, nothing wraps to the far side
    np.testing.assert_allclose(orientation.smooth(spike, k1)[0, :3, 2:7], np.outer(k1[2:], k1), atol=1e-7)
    assert not orientation.smooth(spike, k1)[0, 3:].any()


def test_orientation_uses_the_source_nearest_the_centre():
    centre = galaxy(0.3, flux=20.0)
    neighbour = galaxy(-1.0, flux=200.0, cx=98.0, cy=40.0)  # brighter, elsewhere
    img = render([centre]) + render([neighbour], seed=1, noise=False)
    fast = orientation.orientation_fast(img)
    assert abs(orientation.angle_difference(fast["orientation"][0], 0.3)) < 0.1
    ref = orientation.orientation_photutils(img[0])
    assert abs(orientation.angle_difference(ref["orientation"], 0.3)) < 0.1
    off = render([galaxy(0.3, cx=100.0, cy=100.0)])
    assert orientation.orientation_fast(off)["centre_dist"][0] > preprocess.MAX_CENTRE_DIST
    blank = np.random.default_rng(3).normal(0, 0.01, (1, 3, 128, 128)).astype(np.float32)
    assert np.isinf(orientation.orientation_fast(blank)["centre_dist"][0])


def test_split_is_fixed_80_20_with_anomalies_apart():
    cat = pd.DataFrame({"class": ["normal"] * 100 + ["green_pea"] * 3 + ["red_spiral"] * 7})
    split = preprocess.assign_split(cat)
    assert split.value_counts().to_dict() == {"train": 80, "val": 20, "anomaly": 10}
    assert (split[cat["class"] != "normal"] == "anomaly").all()
    pd.testing.assert_series_equal(split, preprocess.assign_split(cat))


def tiny_survey_config(**preprocess_settings):
    """Smoke config of a 66-galaxy mock survey with 10 % bad cutouts (same data folder for every setting)."""
    return config.setup("smoke", "mock", 0, overrides={
        "survey_a": {"n_normal": 60, "n_green_pea": 3, "n_red_spiral": 3, "bad_fraction": 0.1},
        "preprocess": preprocess_settings})


@pytest.fixture
def survey_cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path))
    cfg = tiny_survey_config(n_photutils_check=3)
    survey.write_survey_for(cfg)
    return cfg


def test_preprocess_survey_files_drops_and_loader(survey_cfg):
    cfg = survey_cfg
    res = preprocess.preprocess_survey(cfg, chunk=16)
    raw_cat = pd.read_parquet(cfg.data_dir("interim", "survey_a") / "catalog.parquet")
    drops = res["drops"]
    expect_missing = set(raw_cat.loc[raw_cat["true_defect"] == "missing_band", "id"])
    expect_star = set(raw_cat.loc[raw_cat["true_defect"] == "bright_star", "id"])
    assert set(drops.ids["missing_band"]) == expect_missing and expect_missing
    assert set(drops.ids["saturated"]) == expect_star
    assert res["n_kept"] + drops.n == len(raw_cat)

    images, cat = preprocess.load_processed(cfg)
    assert images.shape == (len(cat), 3, 69, 69) and images.dtype == np.float32
    assert not cat["id"].isin(drops.all_ids()).any()
    assert set(cat["split"]) == {"train", "val", "anomaly"}
    assert (cat.loc[cat["class"] != "normal", "split"] == "anomaly").all()
    assert (cat["orientation_err"] == 0.1).all()
    assert cat["orientation"].between(-np.pi / 2, np.pi / 2, inclusive="left").all()
    assert np.isfinite(cat["orientation_photutils"]).sum() >= 1
    with h5py.File(cfg.data_dir("processed", "survey_a") / "images.h5") as h5:
        np.testing.assert_array_equal(h5["id"][:], cat["id"].to_numpy())
    assert np.abs(images).max() < 1

    # ⟨max⟩ from the training galaxies only, and used for every split
    norm = preprocess.load_norm(cfg)
    with h5py.File(cfg.data_dir("interim", "survey_a") / "cutouts.h5") as h5:
        raw = h5["images"][:]
    row_of = {i: k for k, i in enumerate(raw_cat["id"])}
    train_rows = [row_of[i] for i in cat.loc[cat["split"] == "train", "id"]]
    expect = raw[train_rows].reshape(len(train_rows), 3, -1).max(-1).mean(0)
    np.testing.assert_allclose([norm["band_max_mean"][b] for b in "grz"], expect, rtol=1e-5)
    k = int(np.flatnonzero(cat["split"] == "val")[0])
    manual = resize(preprocess.normalise(raw[[row_of[cat["id"][k]]]], expect, 10.0), 69)[0]
    np.testing.assert_allclose(images[k], manual, atol=1e-5)

    table = drops.table(res["n_input"])
    assert set(preprocess.DROP_REASONS) <= set(table["reason"])
    assert table.set_index("reason").loc["missing_band", "paper"] == 5
    h5_images, _ = preprocess.load_processed(cfg, in_memory=False)
    assert h5_images.shape == images.shape
    h5_images.file.close()
    assert json.loads((cfg.data_dir("processed", "survey_a") / "norm.json").read_text())["n_train"] == len(train_rows)

    fig = figures.plot_orientation_examples(cfg, n=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert 1 <= len(titles) <= 4 and all("fast" in t and "true" in t for t in titles)


def test_preprocess_without_photutils_check(survey_cfg):
    """n_photutils_check = 0: every orientation is the fast path's, none is measured with photutils."""
    res = preprocess.preprocess_survey(tiny_survey_config(n_photutils_check=0), chunk=16)
    cat = res["catalog"]
    assert res["n_kept"] > 0 and cat["orientation_photutils"].isna().all()
    np.testing.assert_array_equal(cat["orientation"], cat["orientation_fast"])
    agreement = res["agreement"].set_index("quantity")
    assert agreement.loc["galaxies measured with photutils", "ours"] == 0
    assert agreement.loc["rms fast − photutils [rad]", "n"] == 0


def test_too_many_drops_and_missing_input_fail_clearly(survey_cfg, tmp_path, monkeypatch):
    strict = tiny_survey_config(max_drop_fraction=0.01, n_photutils_check=0)
    with pytest.raises(preprocess.PreprocessError, match="max_drop_fraction"):
        preprocess.preprocess_survey(strict)
    monkeypatch.setenv("RAREGAL_ROOT", str(tmp_path / "empty"))
    with pytest.raises(config.MissingInputError, match="01_fetch"):
        preprocess.preprocess_survey(config.setup("smoke", "mock", 0))
    with pytest.raises(config.MissingInputError, match="02_preprocess"):
        preprocess.load_processed(config.setup("smoke", "mock", 0))
