"""The paper B mock: tree frequencies, vote logic, rendered features where the truth says, files."""
import filecmp

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from raregal.core import gz2_schema, images
from raregal.mock import gz2 as mock_gz2
from raregal.paper_b import labels

SIZE, FOV = 64, 4.24


@pytest.fixture(scope="module")
def catalog():
    return mock_gz2.make_catalog(6000, seed=0, detg_fraction=0.01)


def _count(cat, task, answer=None):
    tree = gz2_schema.TREE
    stems = tree[(tree.task == task) & ((tree.answer == answer) if answer else True)].stem
    return cat[[gz2_schema.column(s, "count") for s in stems]].sum(axis=1)


def test_main_branch_frequencies(catalog):
    cls = catalog.true_class.value_counts(normalize=True)
    assert abs(cls["smooth"] - 0.42) < 0.03 and abs(cls["features"] - 0.572) < 0.03
    assert 0.003 < cls["star_or_artifact"] < 0.02
    feats = catalog[catalog.true_class == "features"]
    assert abs(feats.true_edge_on.mean() - 0.17) < 0.03
    truth = labels.truth_labels(catalog)
    for task, paper in {"spiral": 0.43, "edge_on_disk": 0.09, "bar": 0.10, "bulge": 0.07}.items():
        assert abs(truth[task].mean() - paper) < 0.025, task  # Ma et al. 2025 §4.2 positive fractions
    assert abs(truth.detg.mean() - 0.01) < 0.004
    smooth = catalog[catalog.true_class == "smooth"]
    assert smooth.true_roundness.value_counts(normalize=True)["in_between"] == pytest.approx(0.45, abs=0.04)
    detg = catalog[catalog.true_detg]
    etg = catalog[(catalog.true_class == "smooth") & ~catalog.true_detg]
    assert detg.logsfr.median() > etg.logsfr.median() + 0.5  # star-forming early types
    assert detg.loghalomass.median() < etg.loghalomass.median()  # field / group halos
    assert (catalog.rmag <= mock_gz2.R_LIMIT + 1e-9).all() and catalog.z.between(0.01, 0.25).all()


def test_votes_follow_the_tree(catalog):
    c = catalog
    n = c.total_classifications
    pairs = [(_count(c, "t01"), n), (_count(c, "t02"), _count(c, "t01", "a02")),
             (_count(c, "t07"), _count(c, "t01", "a01")),
             (_count(c, "t06"), n - _count(c, "t01", "a03")),
             (_count(c, "t03"), _count(c, "t02", "a05")), (_count(c, "t09"), _count(c, "t02", "a04")),
             (_count(c, "t04"), _count(c, "t03")), (_count(c, "t05"), _count(c, "t04")),
             (_count(c, "t10"), _count(c, "t04", "a08")), (_count(c, "t11"), _count(c, "t10")),
             (_count(c, "t08"), _count(c, "t06", "a14"))]
    for child, parent in pairs:
        np.testing.assert_array_equal(child, parent)
    assert (c.total_votes == sum(_count(c, t) for t in gz2_schema.TASKS)).all()
    for task in gz2_schema.TASKS:
        stems = gz2_schema.TREE.stem[gz2_schema.TREE.task == task]
        voted = _count(c, task) > 0
        for kind in ("fraction", "debiased"):
            s = c[[gz2_schema.column(st, kind) for st in stems]].sum(axis=1)
            assert np.allclose(s[voted], 1.0, atol=2e-3), (task, kind)
            assert c[[gz2_schema.column(st, kind) for st in stems]].to_numpy().min() >= 0
    assert (n < 20).mean() > 0.05  # some galaxies are not well sampled at all
    kept, drops = gz2_schema.validate_catalog(c)
    assert drops.empty and len(kept) == len(c)


def test_debiasing_undoes_the_resolution_bias(catalog):
    feats = catalog[(catalog.true_class == "features") & (catalog.true_visibility < 0.5)]
    col = gz2_schema.stem_of("t01", "a02")
    shift = feats[gz2_schema.column(col, "debiased")] - feats[gz2_schema.column(col, "fraction")]
    assert shift.mean() > 0.1


def test_tags_agree_with_truth(catalog):
    table = labels.build_tag_table(catalog, cap=10_000)
    assert 0.2 < table.well_sampled.mean() < 0.6  # Ma et al. 2025 §3.1: 71,455 / 239,695 = 0.30
    for tag, truth in {"spiral": catalog.true_spiral, "edge_on": catalog.true_edge_on,
                       "bar": catalog.true_bar, "dust_lane": catalog.true_dust_lane,
                       "completely_round": catalog.true_roundness == "completely_round",
                       "merger": catalog.true_odd_feature == "merger",
                       "arms_2": catalog.true_arms == 2}.items():
        tagged = table[f"tag_{tag}"].to_numpy()
        assert tagged.sum() >= 10, tag
        assert truth.to_numpy()[tagged].mean() > 0.85, tag


def _one(catalog, **truth):
    """A copy of the first big, nearby featured galaxy with ``truth`` overrides (no odd feature)."""
    base = catalog[(catalog.true_class == "features") & ~catalog.true_odd].iloc[[0]].copy()
    base = base.assign(true_r90_arcsec=20.0, true_psf_fwhm_arcsec=1.0, rmag=14.5, true_pa_deg=30.0,
                       true_bar=False, true_arms=0, true_spiral=False, true_edge_on=False,
                       true_bt=0.1, true_axis_ratio=1.0, true_bulge_shape="none",
                       true_dust_lane=False, logsfr=0.5, logmstar=10.5)
    return base.assign(**truth)


def _render(rows, seed=0):
    return mock_gz2.render_batch(pd.concat(rows, ignore_index=True), SIZE, FOV,
                             np.random.default_rng(seed), return_bands=True, noise=False)


def test_each_drawing_step_draws_only_where_the_truth_has_its_feature(catalog):
    from raregal.mock.gz2 import components, rendering

    odd = dict(true_odd=True)
    rows = pd.concat([_one(catalog), _one(catalog, true_odd_feature="ring", **odd),
                      _one(catalog, true_odd_feature="merger", **odd),
                      _one(catalog, true_odd_feature="other", **odd),
                      _one(catalog, true_odd_feature="lens_or_arc", **odd),
                      _one(catalog, true_odd_feature="disturbed", **odd),
                      _one(catalog, true_odd_feature="irregular", **odd),
                      _one(catalog, true_class="star_or_artifact", true_bt=0.0),
                      _one(catalog, true_odd_feature="dust_lane", true_dust_lane=True, **odd)],
                     ignore_index=True)
    batch = rendering.batch_geometry(rows, SIZE, FOV, np.random.default_rng(0))
    drawn_on = {components.add_ring: [1], components.add_merger: [2], components.add_foreground_star: [3],
                components.add_lens_arc: [4], components.add_plume: [5], components.add_clumps: [5, 6],
                components.add_star_or_artifact: [7], components.add_spheroid: [0, 1, 2, 3, 4, 5, 6, 8],
                components.add_disk: [0, 1, 2, 3, 4, 5, 6, 8]}
    for step, expected in drawn_on.items():
        img = np.zeros((len(rows), 3, SIZE, SIZE), np.float32)
        step(img, batch, np.random.default_rng(1))
        assert np.flatnonzero(img.any(axis=(1, 2, 3))).tolist() == expected, step.__name__
        assert (img >= 0).all(), step.__name__  # light is only ever added
    img = np.ones((len(rows), 3, SIZE, SIZE), np.float32)
    components.absorb_dust_lane(img, batch, np.random.default_rng(1))
    assert np.flatnonzero((img < 1).any(axis=(1, 2, 3))).tolist() == [8]


def _axis_ratio(img):
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    w = np.clip(img, 0, None)
    w = w / w.sum()
    mx, my = (w * xx).sum(), (w * yy).sum()
    cov = np.cov(np.stack([xx.ravel() - mx, yy.ravel() - my]), aweights=w.ravel())
    ev = np.linalg.eigvalsh(cov)
    return np.sqrt(ev[0] / ev[1])


def test_edge_on_disks_are_elongated_and_round_ellipticals_are_not(catalog):
    edge = _one(catalog, true_edge_on=True, true_axis_ratio=0.12, true_bt=0.0,
                true_bulge_shape="no_bulge")
    ell = _one(catalog, true_class="smooth", true_roundness="completely_round", true_axis_ratio=0.95,
               true_bt=1.0)
    bands = _render([edge, ell])
    assert _axis_ratio(bands[0, 1]) < 0.3
    assert _axis_ratio(bands[1, 1]) > 0.85


def test_dust_lane_darkens_and_reddens_the_centre_line(catalog):
    kw = dict(true_class="smooth", true_roundness="completely_round", true_axis_ratio=0.95,
              true_bt=1.0, true_pa_deg=0.0)
    clean, dusty = _render([_one(catalog, **kw), _one(catalog, true_dust_lane=True, true_detg=True,
                                                        true_odd=True, true_odd_feature="dust_lane",
                                                        **kw)])
    ratio = dusty / clean  # transmission per band, PSF-smoothed
    c = SIZE // 2
    centre = ratio[:, c - 3:c + 3, c - 3:c + 3].min(axis=(1, 2))
    assert centre[1] < 0.5  # r band loses more than half its light on the lane
    assert centre[0] < centre[2]  # g absorbed more than i: the lane is red
    assert np.median(ratio[1]) > 0.95  # most of the galaxy is untouched
    dark = np.argwhere(ratio[1] < 0.7) - (SIZE - 1) / 2
    spread = np.linalg.eigvalsh(np.cov(dark.T))
    assert spread[1] > 6 * spread[0]  # the darkened pixels form a line


def test_detg_lane_depth_thins_only_the_early_types_lanes(catalog):
    kw = dict(true_dust_lane=True, true_odd=True, true_odd_feature="dust_lane", true_pa_deg=0.0)
    detg = _one(catalog, true_class="smooth", true_roundness="completely_round", true_axis_ratio=0.95,
                true_bt=1.0, true_detg=True, **kw)
    rows = pd.concat([detg, _one(catalog, true_detg=False, **kw), _one(catalog)], ignore_index=True)
    render = lambda **depth: mock_gz2.render_batch(rows, SIZE, FOV, np.random.default_rng(3),
                                                   return_bands=True, noise=False, **depth)
    deep, same, half = render(), render(detg_lane_depth=1.0), render(detg_lane_depth=0.5)
    assert np.array_equal(deep, same)
    assert np.array_equal(deep[1:], half[1:])  # the disk's lane and the galaxy without one are untouched
    no_lane = mock_gz2.render_batch(rows.assign(true_dust_lane=False), SIZE, FOV, np.random.default_rng(3),
                                    return_bands=True, noise=False)
    peak = lambda img: -2.5 * np.log10((img[0, 0] / no_lane[0, 0]).min())  # g band [mag]
    assert 0.3 * peak(deep) < peak(half) < 0.7 * peak(deep)  # half the optical depth: about half the mag
    with pytest.raises(ValueError, match="detg_lane_depth"):
        render(detg_lane_depth=0.0)


@pytest.mark.parametrize("arms,pitch", [(2, 30.0), (3, 12.0), (4, 20.0)])
def test_spiral_arms_have_the_true_number_and_winding(catalog, arms, pitch):
    gal = _one(catalog, true_spiral=True, true_arms=arms, true_pitch_deg=pitch,
               true_winding="loose")
    g = _render([gal])[0, 0]
    r90 = SIZE / FOV
    c = (SIZE - 1) / 2 + 0.0
    radii = np.linspace(0.35, 0.85, 12) * r90
    theta = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    rr, tt = np.meshgrid(radii, theta, indexing="ij")
    ring = ndimage.map_coordinates(g, [c + rr * np.sin(tt), c + rr * np.cos(tt)], order=1)
    spec = np.fft.rfft(ring / ring.mean(axis=1, keepdims=True), axis=1)
    power = np.abs(spec[:, 1:8]).mean(axis=0)
    assert np.argmax(power) + 1 == arms
    phase = np.unwrap(np.angle(spec[:, arms]))
    slope = np.polyfit(np.log(radii), phase, 1)[0]
    est = np.degrees(np.arctan(arms / abs(slope)))
    assert est == pytest.approx(pitch, abs=4.0)


def test_rings_make_a_bump_in_the_radial_profile(catalog):
    plain = _one(catalog)
    ring = _one(catalog, true_odd=True, true_odd_feature="ring")
    a, b = _render([plain, ring])[:, 0]
    yy, xx = np.indices(a.shape)
    r = np.hypot(xx - (SIZE - 1) / 2, yy - (SIZE - 1) / 2).astype(int)
    prof = lambda im: np.bincount(r.ravel(), im.ravel()) / np.bincount(r.ravel())  # noqa: E731
    excess = prof(b)[:25] / prof(a)[:25]
    peak = np.argmax(excess)
    assert 0.5 * SIZE / FOV < peak < 0.9 * SIZE / FOV and excess[peak] > 1.5


def test_lupton_stretch_matches_astropy():
    from astropy.visualization import make_lupton_rgb

    rng = np.random.default_rng(1)
    r, g, b = (rng.gamma(0.5, 2.0, (12, 12)) - 0.2 for _ in range(3))
    ours = mock_gz2.lupton_rgb(r, g, b, stretch=1.0, Q=8.0).astype(int)
    ref = make_lupton_rgb(r, g, b, minimum=0, stretch=1.0, Q=8.0).astype(int)
    assert np.abs(ours - ref).max() <= 1


def test_survey_files_are_deterministic_and_readable(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    s = mock_gz2.write_survey(a, 40, image_size=32, seed=5, detg_fraction=0.02, log=None)
    mock_gz2.write_survey(b, 40, image_size=32, seed=5, detg_fraction=0.02, log=None)
    mock_gz2.write_survey(c, 40, image_size=32, seed=6, detg_fraction=0.02, log=None)
    cat = gz2_schema.read_catalog(a)
    assert len(cat) == 40 == s["n_galaxies"] and cat.dr7objid.is_unique
    assert set(gz2_schema.required_columns(gz2_schema.COUNT_KINDS)) <= set(cat.columns)
    assert {"ra", "dec", "total_classifications", "total_votes", "gz2_class", "z", "rmag",
            "logmstar", "logsfr", "loghalomass", "true_detg"} <= set(cat.columns)
    names = sorted(p.name for p in (a / gz2_schema.IMAGES_DIR).iterdir())
    assert names == sorted(f"{i}.jpg" for i in cat.dr7objid)
    match, mismatch, err = filecmp.cmpfiles(a / gz2_schema.IMAGES_DIR, b / gz2_schema.IMAGES_DIR, names,
                                            shallow=False)
    assert len(match) == 40 and not mismatch and not err
    pd.testing.assert_frame_equal(cat, gz2_schema.read_catalog(b))
    assert not gz2_schema.read_catalog(c).equals(cat)
    batch = images.read_images(a / gz2_schema.IMAGES_DIR, cat.dr7objid, size=32)
    assert batch.images.shape == (40, 32, 32, 3) and batch.drops.empty
    assert batch.images.mean() > 5  # not blank
    known = gz2_schema.read_known_detg(a)
    assert set(known) <= set(cat.dr7objid[cat.true_detg])


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        mock_gz2.make_catalog(0)
    with pytest.raises(ValueError, match="detg_fraction"):
        mock_gz2.make_catalog(10, detg_fraction=0.9)


def test_render_batches_shrink_with_image_size():
    sizes = [32, 64, 128, 424]
    steps = [mock_gz2.render_batch_size(s) for s in sizes]
    assert steps[1] == mock_gz2.RENDER_BATCH and steps[-1] == 8
    assert steps == sorted(steps, reverse=True)
