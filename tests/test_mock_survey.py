"""Physics of the paper A mock survey (raregal.mock.survey): trends, scalings, noise, classes."""
import hashlib

import h5py
import numpy as np
import pandas as pd
import pytest
from astropy.cosmology import Planck18

from raregal.mock import survey as mock_survey


@pytest.fixture(scope="module")
def cat():
    return mock_survey.sample_catalog(2500, 40, 60, 0.02, seed=11)


def colours(df):
    return df["true_mag_g"] - df["true_mag_r"], df["true_mag_r"] - df["true_mag_z"]


def test_catalog_contract_and_determinism(cat):
    assert set(mock_survey.CONTRACT_COLUMNS) <= set(cat.columns)
    assert cat["id"].is_unique and cat["id"].dtype == np.int64
    assert set(cat["class"]) == set(mock_survey.CLASSES)
    assert cat["class"].value_counts().to_dict() == {"normal": 2500, "red_spiral": 60, "green_pea": 40}
    assert cat["true_z"].between(0.01, 1.0).all() and cat["true_logmstar"].between(8, 12).all()
    a = mock_survey.sample_catalog(30, 2, 2, 0.1, seed=3)
    pd.testing.assert_frame_equal(a, mock_survey.sample_catalog(30, 2, 2, 0.1, seed=3))
    assert not np.allclose(a["true_z"], mock_survey.sample_catalog(30, 2, 2, 0.1, seed=4)["true_z"])


def test_redshift_distribution_and_colour_trend(cat):
    n = cat[cat["class"] == "normal"]
    assert (n["true_z"] < 0.4).mean() > 0.6 and (n["true_z"] > 0.7).sum() > 20
    for parent, lim in mock_survey.PARENT_SAMPLES.items():  # each parent sample is flux-limited in its band
        sel = n["true_parent"] == parent
        assert abs(sel.mean() - lim["fraction"]) < 0.05
        assert (n.loc[sel, f"true_mag_{lim['band']}"] < lim["limit"]).all()
    assert (cat.loc[cat["class"] != "normal", "true_parent"] == "literature").all()
    gr, rz = colours(n)
    q = n["true_quenched"]
    low, mid, high = n["true_z"] < 0.1, n["true_z"].between(0.25, 0.45), n["true_z"] > 0.6
    # the 4000 Å break moves through g−r to z ≈ 0.4, then through r−z (k-correction)
    assert gr[q & mid].median() > gr[q & low].median() + 0.3
    assert rz[high].median() > rz[n["true_z"] < 0.2].median() + 0.2
    # at fixed redshift, passive galaxies are redder than star-forming ones
    near = n["true_z"] < 0.2
    assert gr[q & near].median() > gr[~q & near].median() + 0.3


def test_mass_size_relation_and_planck18_angular_sizes(cat):
    n = cat[(cat["class"] == "normal") & (cat["true_bt"] < 0.5)]
    size_at_z0 = np.log10(n["true_re_kpc"]) + 0.75 * np.log10(1 + n["true_z"])
    slope = np.polyfit(n["true_logmstar"], size_at_z0, 1)[0]
    assert 0.15 < slope < 0.3  # van der Wel et al. 2014 late types: 0.22
    z = n["true_z"].to_numpy()[:50]
    d_a_kpc = Planck18.angular_diameter_distance(z).to("kpc").value
    expected = n["true_re_kpc"].to_numpy()[:50] / d_a_kpc * 206264.806
    np.testing.assert_allclose(n["true_re_arcsec"].to_numpy()[:50], expected, rtol=2e-3)
    np.testing.assert_allclose(n["true_re_px"], n["true_re_arcsec"] / 0.262)
    # angular size of a fixed physical size shrinks with D_A, and turns over (D_A peaks at z ≈ 1.6)
    px = mock_survey.kpc_to_pixels(np.array([5.0, 5.0, 5.0]), np.array([0.05, 0.3, 0.9]))
    assert px[0] > px[1] > px[2]


def test_main_sequence_and_quenched_fraction(cat):
    # checked at z < 0.2, where the flux limits keep the sample nearly complete above 10^9.5;
    # beyond, r < 19.8 favours star-forming galaxies (lower M/L), as in a real survey
    n = cat[cat["class"] == "normal"]
    near = n[n["true_z"] < 0.2]
    sf = near[~near["true_quenched"] & (near["true_logmstar"] > 9.5)]
    resid = sf["true_logsfr"] - mock_survey.main_sequence_logsfr(sf["true_logmstar"], sf["true_z"])
    assert abs(resid.median()) < 0.06 and 0.25 < resid.std() < 0.35
    q = n[n["true_quenched"]]
    ms = mock_survey.main_sequence_logsfr(q["true_logmstar"], q["true_z"])
    assert (q["true_logsfr"] <= ms - 0.8 + 1e-9).all()
    assert near.loc[near["true_logmstar"] > 10.8, "true_quenched"].mean() > 0.6
    assert near.loc[near["true_logmstar"].between(10, 10.5), "true_quenched"].mean() < 0.3
    assert near.loc[near["true_logmstar"] < 9.7, "true_quenched"].mean() < 0.05
    np.testing.assert_allclose(mock_survey.quenched_fraction(np.array([9.0, 10.55, 12.0]), 0.0),
                               [0.01, 0.5, 0.98], atol=0.01)


def test_green_peas_compact_low_mass_high_ssfr_oiii_boosted(cat):
    gp, n = cat[cat["class"] == "green_pea"], cat[cat["class"] == "normal"]
    assert gp["true_z"].between(0.1, 0.35).all()
    assert gp["true_logmstar"].median() < 9.5 < n["true_logmstar"].median()
    assert gp["true_logssfr"].min() > n["true_logssfr"].quantile(0.95)
    assert gp["true_re_arcsec"].median() < n["true_re_arcsec"].quantile(0.1)
    gr, rz = colours(gp)
    assert gr.median() > 0.5 and rz.median() < 0  # [OIII] 5007 in r: red g−r, blue r−z


def test_red_spirals_red_extended_massive_passive(cat):
    rs, n = cat[cat["class"] == "red_spiral"], cat[cat["class"] == "normal"]
    assert (rs["true_z"] < 0.1).all() and rs["true_logmstar"].median() > 10.6
    assert (rs["true_logssfr"] < -10.8).mean() > 0.9
    assert rs["true_re_arcsec"].median() > n["true_re_arcsec"].quantile(0.9)
    assert (rs["true_arm_amplitude"] > 0).all()
    sf_low = n[(n["true_z"] < 0.1) & ~n["true_quenched"]]
    assert colours(rs)[0].median() > colours(sf_low)[0].median() + 0.3


def test_reported_values_scatter_by_their_errors(cat):
    for v, lo, hi in (("logmstar", 0.05, 0.3), ("logsfr", 0.13, 0.65)):
        pull = (cat[v] - cat[f"true_{v}"]) / cat[f"{v}_err"]
        assert 0.85 < pull.std() < 1.2 and abs(pull.mean()) < 0.1
        assert cat[f"{v}_err"].between(lo, hi).all()
    assert (cat["z_err"] < 1e-3).all()


def point_source_row(mag, band_mags=None):
    row = mock_survey.sample_catalog(1, 0, 0, 0.0, seed=0)
    row[["true_cx", "true_cy", "true_re_px", "true_bt", "true_arm_amplitude"]] = [64.0, 64.0, 0.01, 0.0, 0.0]
    for b in mock_survey.BANDS:
        row[f"true_flux_{b}"] = 10 ** (-0.4 * ((band_mags or {}).get(b, mag) - 22.5))
    return row


def test_noise_matches_5sigma_depths():
    row = point_source_row(0, band_mags=mock_survey.DEPTH_5SIGMA)
    reps = pd.concat([row] * 150, ignore_index=True)
    img = mock_survey.render_cutouts(reps, np.random.default_rng(0), neighbours=False)
    psf = mock_survey.moffat_psf(128, mock_survey.PSF_FWHM_ARCSEC / mock_survey.PIXEL_SCALE)
    flux = (img * psf).sum((2, 3)) / (psf**2).sum()  # PSF-fit flux per band
    snr = flux.mean(0) / flux.std(0)
    np.testing.assert_allclose(snr, 5.0, rtol=0.15)
    blank = img[:, :, :20, :20].std((0, 2, 3))
    sky = mock_survey.noise_sigma_per_pixel()
    np.testing.assert_allclose(blank, [sky[b] for b in mock_survey.BANDS], rtol=0.03)


def test_rendered_flux_and_orientation_convention():
    row = mock_survey.sample_catalog(1, 0, 0, 0.0, seed=2)
    row[["true_re_px", "true_bt", "true_arm_amplitude", "true_q_disk", "true_orientation",
         "true_cx", "true_cy"]] = [6.0, 0.0, 0.0, 0.3, 0.6, 63.5, 63.5]
    img = mock_survey.render_cutouts(row, np.random.default_rng(0), noise=False, neighbours=False)[0]
    true_flux = row[[f"true_flux_{b}" for b in mock_survey.BANDS]].to_numpy()[0]
    np.testing.assert_allclose(img.sum((1, 2)), true_flux, rtol=1e-3)
    y, x = np.mgrid[0:128, 0:128] - 63.5  # x = column, y = row
    w = img.sum(0)
    mxx, myy, mxy = ((w * a).sum() / w.sum() for a in (x * x, y * y, x * y))
    angle = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    assert abs(angle - 0.6) < 0.01  # counter-clockwise from +x toward +y (origin="lower")
    along = w[int(63.5 + 8 * np.sin(0.6) + 0.5), int(63.5 + 8 * np.cos(0.6) + 0.5)]
    across = w[int(63.5 + 8 * np.cos(0.6) + 0.5), int(63.5 - 8 * np.sin(0.6) + 0.5)]
    assert along > 5 * across
    cat = mock_survey.sample_catalog(200, 0, 0, 0.0, seed=1)
    assert cat["true_orientation"].between(-np.pi / 2, np.pi / 2, inclusive="left").all()


def test_bad_cutouts_and_streaming_write(tmp_path):
    info = mock_survey.write_survey(tmp_path, 40, 2, 2, 0.25, seed=9, chunk=16)
    cat = pd.read_parquet(info["catalog"])
    with h5py.File(info["cutouts"]) as h5:
        images = h5["images"][:]
        assert images.dtype == np.float32 and images.shape == (44, 3, 128, 128)
        np.testing.assert_array_equal(h5["id"][:], cat["id"].to_numpy())
    assert (cat["true_defect"] != "").sum() == 11
    miss = np.flatnonzero(cat["true_defect"] == "missing_band")
    star = np.flatnonzero(cat["true_defect"] == "bright_star")
    assert all((images[i] == 0).all((1, 2)).sum() == 1 for i in miss)
    assert all((images[i] == mock_survey.SATURATION_NMGY).sum() >= 5 for i in star)
    ok = np.flatnonzero(cat["true_defect"] == "")
    assert (images[ok] < mock_survey.SATURATION_NMGY).all() and np.isfinite(images).all()
    # chunk k of the file is chunk k rendered with the stream [seed, 7, k]
    again = mock_survey.render_cutouts(cat.iloc[16:32], np.random.default_rng([9, 7, 1]))
    np.testing.assert_array_equal(again, images[16:32])


def test_bad_arguments_and_summary(cat):
    with pytest.raises(ValueError, match="n_normal"):
        mock_survey.sample_catalog(-1, 0, 0, 0.0, seed=0)
    with pytest.raises(ValueError, match="bad_fraction"):
        mock_survey.sample_catalog(10, 0, 0, 0.7, seed=0)
    table = mock_survey.summary_table(cat)
    counts = table[table["quantity"] == "count"].set_index("class")
    assert counts.loc["green_pea", "ours"] == 40 and counts.loc["green_pea", "paper"] == 13
    assert counts.loc["all", "ours"] == len(cat)


# sha256 of the float32 cutouts of two small surveys, taken from the writer before the fast renderer
# existed: the default renderer must stay bit-identical, or 01_fetch's survey (and every result
# trained on it) silently changes.
DEFAULT_SURVEY_SHA256 = {
    "chunk 16": "a0fd270e788d05d829431f1f2396b6564f525c303ddcead730421535d67a6b01",
    "default chunk": "c42979193cea97aa389806775e519cec6a70c30376619fb28b21d29e1894ce7b",
}


def test_default_renderer_is_bit_identical(tmp_path):
    for key, args, kwargs in (("chunk 16", (40, 2, 2, 0.25), {"seed": 9, "chunk": 16}),
                              ("default chunk", (300, 3, 3, 0.05), {"seed": 5})):
        info = mock_survey.write_survey(tmp_path / key.replace(" ", "_"), *args, **kwargs)
        with h5py.File(info["cutouts"]) as h5:
            digest = hashlib.sha256(h5["images"][:].tobytes()).hexdigest()
        assert digest == DEFAULT_SURVEY_SHA256[key], key


def second_moments(images):
    """Flux-weighted orientation [rad] and size (trace of the second moments) [px²] per cutout."""
    w = images.sum(1)
    y, x = np.mgrid[0:128, 0:128].astype(np.float64)
    tot = w.sum((1, 2))
    cx, cy = (w * x).sum((1, 2)) / tot, (w * y).sum((1, 2)) / tot
    dx, dy = x - cx[:, None, None], y - cy[:, None, None]
    mxx, myy, mxy = ((w * a).sum((1, 2)) / tot for a in (dx * dx, dy * dy, dx * dy))
    return 0.5 * np.arctan2(2 * mxy, mxx - myy), mxx + myy


def test_fast_renderer_keeps_fluxes_shapes_and_noise():
    cat = mock_survey.sample_catalog(120, 4, 6, 0.0, seed=21)
    args = dict(noise=False, neighbours=False)
    slow = mock_survey.render_cutouts(cat, np.random.default_rng(1), **args)
    fast = mock_survey.render_cutouts_fast(cat, np.random.default_rng(1), **args)
    assert fast.dtype == np.float32 and fast.shape == slow.shape
    true_flux = cat[[f"true_flux_{b}" for b in mock_survey.BANDS]].to_numpy()
    unclipped = (slow < mock_survey.SATURATION_NMGY).all((1, 2, 3))
    np.testing.assert_allclose(fast.sum((2, 3))[unclipped], slow.sum((2, 3))[unclipped], rtol=2e-3)
    no_arms = unclipped & (cat["true_arm_amplitude"] == 0)  # arms move a little flux (avg ~0)
    np.testing.assert_allclose(fast.sum((2, 3))[no_arms], true_flux[no_arms], rtol=2e-3)
    assert np.abs(fast - slow).max() < 1e-3 * slow.max()  # same galaxy model and PSF
    bright = (cat["true_mag_r"] < 19.5) & (cat["true_q_disk"] < 0.8) & unclipped
    assert bright.sum() > 10
    (a_slow, s_slow), (a_fast, s_fast) = second_moments(slow[bright]), second_moments(fast[bright])
    np.testing.assert_allclose(np.angle(np.exp(2j * (a_fast - a_slow))) / 2, 0, atol=0.01)
    np.testing.assert_allclose(s_fast, s_slow, rtol=0.01)
    # noise: σ of empty sky per band, its Gaussian tails, and S/N at the 5σ depth as the default's
    row = point_source_row(0, band_mags=mock_survey.DEPTH_5SIGMA)
    reps = pd.concat([row] * 150, ignore_index=True)
    img = mock_survey.render_cutouts_fast(reps, np.random.default_rng(0), neighbours=False)
    blank = img[:, :, :20, :20]
    sky = np.array([mock_survey.noise_sigma_per_pixel()[b] for b in mock_survey.BANDS])
    np.testing.assert_allclose(blank.std((0, 2, 3)), sky, rtol=0.02)
    pulls = blank / sky[None, :, None, None]
    assert abs((np.abs(pulls) > 2).mean() - 0.0455) < 0.003 and 2.9 < (pulls**4).mean() < 3.1
    psf = mock_survey.moffat_psf(128, mock_survey.PSF_FWHM_ARCSEC / mock_survey.PIXEL_SCALE)
    flux = (img * psf).sum((2, 3)) / (psf**2).sum()
    np.testing.assert_allclose(flux.mean(0) / flux.std(0), 5.0, rtol=0.15)


def test_fast_unit_normals_are_unit_normal():
    from raregal.mock.survey.fast_rendering import fast_unit_normals

    z = fast_unit_normals(np.random.default_rng(3), 400_001)
    assert z.dtype == np.float32 and z.shape == (400_001,)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert abs((z < -1).mean() - 0.1587) < 0.002 and 4.2 < np.abs(z).max() < 4.4
    again = fast_unit_normals(np.random.default_rng(3), 400_001)
    np.testing.assert_array_equal(z, again)


def test_fast_survey_defects_and_bad_arguments(tmp_path):
    info = mock_survey.write_survey(tmp_path, 40, 2, 2, 0.25, seed=9, chunk=16, renderer="fast")
    cat = pd.read_parquet(info["catalog"])
    with h5py.File(info["cutouts"]) as h5:
        images = h5["images"][:]
        assert h5["images"].attrs["renderer"] == "fast"
    miss = np.flatnonzero(cat["true_defect"] == "missing_band")
    star = np.flatnonzero(cat["true_defect"] == "bright_star")
    assert miss.size and star.size
    assert all((images[i] == 0).all((1, 2)).sum() == 1 for i in miss)
    assert all((images[i] == mock_survey.SATURATION_NMGY).sum() >= 5 for i in star)
    ok = np.flatnonzero(cat["true_defect"] == "")
    assert (images[ok] < mock_survey.SATURATION_NMGY).all() and np.isfinite(images).all()
    with pytest.raises(ValueError, match="renderer"):
        mock_survey.write_survey(tmp_path, 4, 0, 0, 0.0, seed=0, renderer="quick")
    with pytest.raises(ValueError, match="shard_size"):
        mock_survey.write_survey(tmp_path, 4, 0, 0, 0.0, seed=0, shard_size=0)


def test_sharded_survey_equals_one_file_and_is_discovered(tmp_path):
    from raregal.paper_a.infer import shards

    whole = mock_survey.write_survey(tmp_path / "one", 28, 1, 1, 0.1, seed=4, chunk=16)
    mock_survey.write_survey(tmp_path / "many", 28, 1, 1, 0.1, seed=4, chunk=16, shard_size=4)
    info = mock_survey.write_survey(tmp_path / "many", 28, 1, 1, 0.1, seed=4, chunk=16, shard_size=7)
    files = sorted(info["cutouts"].glob("*.h5"))
    assert files == info["shards"] and len(files) == 5  # 30 rows in 7s; the 4-row shards are gone
    with h5py.File(whole["cutouts"]) as h5:
        ids, images = h5["id"][:], h5["images"][:]
    parts = [h5py.File(f) for f in files]
    try:
        assert [p["id"].shape[0] for p in parts] == [7, 7, 7, 7, 2]
        np.testing.assert_array_equal(np.concatenate([p["id"][:] for p in parts]), ids)
        np.testing.assert_array_equal(np.concatenate([p["images"][:] for p in parts]), images)
    finally:
        for p in parts:
            p.close()
    found, drops = shards.discover(info["cutouts"], shard_size=7)
    assert drops == [] and [(s.start, s.stop) for s in found] == [(0, 7)] * 4 + [(0, 2)]
