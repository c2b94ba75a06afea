"""Latent calibration and interval calibration of raregal.paper_a.infer, on synthetic data whose truth
is known: the conformal intervals must cover what they claim (±2 % on held-out draws), the normalised
ones must be narrower where σ tracks the error, and a fitted linear map must be recovered."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from raregal.paper_a.infer.calibration import PropertyCalibration, fit_calibration
from raregal.paper_a.infer.intervals import (
    IntervalCalibration,
    compare_methods,
    conformal_quantiles,
    coverage_by_sigma,
    coverage_rows,
    fit_intervals,
    score_methods,
)


def _heteroscedastic(n, seed):
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.05, 0.5, n)
    estimate = rng.normal(0.3, 0.2, n)
    truth = estimate + sigma * rng.standard_t(5, n)  # heavy tails: a Gaussian assumption would be wrong
    return {"z": truth}, {"z": estimate}, {"z": sigma}


def test_conformal_quantile_is_the_finite_sample_order_statistic():
    r = np.random.default_rng(0).normal(size=99)
    s = np.sort(np.abs(r))
    got = conformal_quantiles(r, (0.68, 0.95))
    assert got == [s[int(np.ceil(100 * 0.68)) - 1], s[int(np.ceil(100 * 0.95)) - 1]]


@pytest.mark.parametrize("method", ["conformal", "conformal_sigma"])
def test_conformal_intervals_cover_their_level_on_held_out_draws(method):
    truth, est, sig = _heteroscedastic(4000, 1)
    cal = fit_intervals(method, truth, est, sig)
    test_truth, test_est, test_sig = _heteroscedastic(40000, 2)
    rows = coverage_rows(cal, test_truth, test_est, test_sig)
    for row in rows:
        assert abs(row["coverage"] - row["level"]) < 0.02, row


def test_sigma_scaled_intervals_cover_every_galaxy_alike_when_sigma_tracks_the_error():
    truth, est, sig = _heteroscedastic(4000, 3)
    test = _heteroscedastic(40000, 6)
    constant = fit_intervals("conformal", truth, est, sig)
    scaled = fit_intervals("conformal_sigma", truth, est, sig)
    by_bin_constant = coverage_by_sigma(constant, test[0]["z"], test[1]["z"], test[2]["z"], "z", 0.68)
    by_bin_scaled = coverage_by_sigma(scaled, test[0]["z"], test[1]["z"], test[2]["z"], "z", 0.68)
    assert by_bin_constant[0] > 0.9 and by_bin_constant[-1] < 0.5  # right on average only
    assert np.abs(by_bin_scaled - 0.68).max() < 0.03
    # a Gaussian re-scaling of σ mis-covers the t-distributed errors at 68 %
    table = compare_methods(truth, est, sig).set_index(["method", "level"])
    assert table.loc[("sigma_recalibrated", 0.68), "coverage"] > 0.71


def test_interval_calibration_round_trips_and_refuses_unknown_methods():
    truth, est, sig = _heteroscedastic(500, 4)
    cal = fit_intervals("conformal_sigma", truth, est, sig)
    again = IntervalCalibration.from_dict(cal.to_dict())
    lo, hi = again.bounds(est["z"], sig["z"], "z")[0.95]
    np.testing.assert_allclose(hi - lo, 2 * cal.scales["z"][1] * sig["z"])
    with pytest.raises(ValueError, match="needs the encoder σ"):
        again.bounds(est["z"], None, "z")
    with pytest.raises(ValueError, match="interval method must be one of"):
        IntervalCalibration("bootstrap")


def test_calibration_recovers_a_known_linear_map():
    rng = np.random.default_rng(5)
    mu = rng.normal(size=(3000, 5))
    z = 0.5 * mu[:, 1] + 0.1 * mu[:, 4] + 0.2 + rng.normal(0, 0.01, 3000)
    logm = 2.0 * mu[:, 2] + 10.0 + rng.normal(0, 0.01, 3000)
    cal = fit_calibration(mu, {"z": z, "logmstar": logm}, features="all")
    np.testing.assert_allclose(cal.coef["z"], [0, 0.5, 0, 0, 0.1], atol=2e-3)
    assert cal.intercept["logmstar"] == pytest.approx(10.0, abs=2e-3)
    own = fit_calibration(mu, {"z": z, "logmstar": logm}, features="own")
    assert own.coef["logmstar"] == [pytest.approx(2.0, abs=2e-3)]
    sigma = np.full_like(mu, 0.1)
    assert own.sigma(sigma)["logmstar"] == pytest.approx(np.full(3000, 0.2), rel=1e-3)
    again = PropertyCalibration.from_dict(own.to_dict())
    np.testing.assert_allclose(again.predict(mu)["z"], own.predict(mu)["z"])
    with pytest.raises(ValueError, match="finite rows"):
        fit_calibration(mu[:3], {"z": z[:3]})


def test_intervals_table_puts_coverage_and_width_beside_the_baseline():
    """A-table-intervals: each model/method has coverage and width per quantity and level; a
    calibration with smaller errors than the baseline must come out narrower at the same coverage."""
    import pandas as pd

    from raregal.paper_a.infer import coverage

    rng = np.random.default_rng(4)
    n = 4000
    truth = {q: rng.normal(0, 1, n) for q in ("z", "logmstar", "logsfr")}
    catalog = pd.DataFrame({"split": "val", **truth})
    good = {q: t + rng.normal(0, 0.2, n) for q, t in truth.items()}  # the "CVAE"
    poor = {q: t + rng.normal(0, 0.6, n) for q, t in truth.items()}  # the "baseline"
    comparison = compare_methods(truth, good, None, seed=0, methods=("conformal",)).assign(scored_on="validation half")
    table = coverage.intervals_table(comparison, coverage.score_baseline(poor, catalog, seed=0), "conformal")
    assert set(table["method"]) == {"physics CVAE, conformal", "photometry + MLP, conformal"}
    assert len(table) == 2 * 3 * 2 * 2  # models × quantities × levels × (coverage, width)
    cov = table[table["statistic"] == "coverage"]
    assert (abs(cov["ours"] - cov["level"]) < 0.03).all()
    assert (cov["n"] == n // 2).all() and (cov["n_calibration"] == n // 2).all()
    np.testing.assert_allclose(cov["std"], np.sqrt(cov["ours"] * (1 - cov["ours"]) / cov["n"]))
    assert cov["note"].str.contains("the bundle's intervals").sum() == 6
    ratio = coverage.width_ratio(table, "conformal")
    for q in truth:
        assert ratio[q] == pytest.approx(0.2 / 0.6, rel=0.1)


def test_binomial_standard_error_matches_the_scatter_of_repeated_coverage_measurements():
    """The ``se`` of a coverage row is what a second draw of test galaxies would move it by."""
    truth, est, _ = _heteroscedastic(4000, 7)
    cal = fit_intervals("conformal", truth, est)
    rng = np.random.default_rng(8)
    measured = []
    for _ in range(300):
        t = rng.normal(0.3, 0.2, 500)
        row = coverage_rows(cal, {"z": t + 0.3 * rng.standard_t(5, 500)}, {"z": t})[0]
        measured.append((row["coverage"], row["se"]))
    coverage_values, se = np.array(measured).T
    assert coverage_values.std() == pytest.approx(se.mean(), rel=0.15)
    with pytest.raises(ValueError, match="no galaxy with a finite value"):
        coverage_rows(cal, {"z": np.full(3, np.nan)}, {"z": np.zeros(3)})


def test_score_methods_calibrates_on_one_sample_and_scores_another():
    cal_set, test_set = _heteroscedastic(3000, 9), _heteroscedastic(30000, 10)
    table = score_methods(cal_set, test_set).set_index(["method", "quantity", "level"])
    assert (table["n_calibration"] == 3000).all() and (table["n"] == 30000).all()
    for method in ("conformal", "conformal_sigma"):
        for level in (0.68, 0.95):
            assert abs(table.loc[(method, "z", level), "coverage"] - level) < 0.02
    only_constant = score_methods((*cal_set[:2], None), (*test_set[:2], None))
    assert set(only_constant["method"]) == {"conformal"}


def _linear_catalog(n_train, n_val, rng):
    """A processed-catalog stand-in: latents μ (N, 5), σ, and z / log M* / log SFR linear in μ + noise."""
    n = n_train + n_val
    mu = rng.normal(size=(n, 5))
    coef = {"z": [0, 0.1, 0, 0, 0], "logmstar": [0, 0, 0.5, 0, 0.1], "logsfr": [0, 0, 0.2, 0.6, 0]}
    values = {q: mu @ np.array(c) + rng.normal(0, 0.1 + 0.2 * (q == "logsfr"), n) for q, c in coef.items()}
    catalog = pd.DataFrame({"split": ["train"] * n_train + ["val"] * n_val, "class": "normal", **values})
    return mu, np.full((n, 5), 0.3), catalog


def test_bundle_intervals_are_calibrated_on_all_validation_galaxies_and_scored_on_the_held_out_ones():
    from raregal.paper_a.infer.from_run import fit_calibration_parts
    from raregal.paper_a.infer.heldout import HeldOut

    rng = np.random.default_rng(12)
    mu, sigma, catalog = _linear_catalog(3000, 4000, rng)
    fresh_mu, _, fresh = _linear_catalog(0, 20000, rng)
    frame = fresh.assign(role=np.where(np.arange(20000) < 2000, "calibration", "test"),
                         **{f"mu_{k + 1}": fresh_mu[:, k] for k in range(5)},
                         **{f"sigma_{k + 1}": 0.3 for k in range(5)})
    held_out = HeldOut(frame, pd.DataFrame({"id": [], "reason": []}), seed=99, n_drawn=20000)
    calibration, intervals, table = fit_calibration_parts(mu, sigma, catalog, "conformal", held_out=held_out)
    assert intervals.n == 4000 + 2000  # every validation galaxy (not a half) and the fresh calibration ones
    assert set(table["scored_on"]) == {"held-out mock"} and (table["n"] == 18000).all()
    assert (table["n_calibration"] == 6000).all()
    constant = table[table["method"] == "conformal"]
    assert (abs(constant["coverage"] - constant["level"]) < 0.02).all(), constant
    assert intervals.measured == json.loads(json.dumps(intervals.measured))  # stored in intervals.json
    assert [r["coverage"] for r in intervals.measured] == constant["coverage"].tolist()

    all_test = HeldOut(frame.assign(role="test"), held_out.drops, seed=99, n_drawn=20000)
    _, val_only, _ = fit_calibration_parts(mu, sigma, catalog, "conformal", held_out=all_test)
    _, halves, half_table = fit_calibration_parts(mu, sigma, catalog, "conformal")
    assert halves.scales == val_only.scales  # the shipped intervals do not depend on how they are scored
    assert val_only.n == 4000 and val_only.scales != intervals.scales
    assert set(half_table["scored_on"]) == {"validation half"}
    assert (half_table["n"] == 2000).all() and (half_table["n_calibration"] == 2000).all()


def test_misses_lists_only_the_bundle_cells_outside_two_percent():
    from raregal.paper_a.infer import coverage

    rows = pd.DataFrame({"method": "conformal", "quantity": ["z", "z", "logmstar", "logmstar"],
                         "level": [0.68, 0.95, 0.68, 0.95], "coverage": [0.69, 0.945, 0.656, 0.95],
                         "se": 0.004, "mean_width": 1.0, "n": 12000, "n_calibration": 1188,
                         "scored_on": "held-out mock"})
    table = coverage.intervals_table(rows, rows.iloc[:0].assign(model=coverage.BASELINE), "conformal")
    missed = coverage.misses(table, "conformal")
    assert missed[["quantity", "level"]].values.tolist() == [["logmstar", 0.68]]
    assert "outside ±2 %, by 1.0 SE" in missed["note"].iloc[0]


def test_held_out_seed_is_derived_from_the_run_seed_and_never_the_run_seed():
    from raregal.paper_a.infer.heldout import held_out_seed

    seeds = [held_out_seed(s) for s in range(50)]
    assert seeds == [held_out_seed(s) for s in range(50)]  # deterministic
    assert len(set(seeds)) == 50 and all(d != s for s, d in enumerate(seeds))


def test_held_out_galaxies_are_the_mock_survey_of_the_derived_seed_through_the_survey_path(tmp_path):
    """The drawn cutouts equal what write_survey writes for the derived seed; every drawn galaxy is
    either kept with the notebooks' μ (eq. 1 with the given ⟨max⟩, resize, latents.encode) or a
    counted drop with the drop checks' reason."""
    import h5py
    import torch

    from raregal.mock.survey import write_survey
    from raregal.paper_a import latents
    from raregal.paper_a.cvae.model import Arch, ConvVAE
    from raregal.paper_a.infer import heldout, steps

    n, bad, seed = 40, 0.1, 5
    write_survey(tmp_path, n, 0, 0, bad, heldout.held_out_seed(seed))
    with h5py.File(tmp_path / "cutouts.h5", "r") as h5:
        images, ids = h5["images"][:], h5["id"][:]
    drawn = list(heldout.draw_cutouts(n, bad, heldout.held_out_seed(seed)))
    np.testing.assert_array_equal(np.concatenate([im for _, im in drawn]), images)

    torch.manual_seed(0)
    model = ConvVAE(Arch(channels=(4, 8))).eval()
    pre = {"band_max_mean": [0.08, 0.16, 0.29], "beta": steps.BETA, "size": 69, "orientation_method": "fast"}
    held = heldout.encode_held_out(model, pre, n - 10, seed, bad, n_calibration=10)
    reasons, _ = steps.screen(images)
    keep = reasons == ""
    assert held.n_drawn == n and len(held.frame) + len(held.drops) == n and len(held.drops) >= 1
    assert dict(zip(held.drops["id"], held.drops["reason"])) == dict(zip(ids[~keep], reasons[~keep]))
    np.testing.assert_array_equal(held.frame["id"], ids[keep])
    assert held.frame["role"].tolist() == np.where(np.arange(n)[keep] < 10, "calibration", "test").tolist()
    assert len(held.part("calibration").frame) + len(held.part("test").frame) == len(held.frame)
    expected = latents.encode(model, steps.model_input(images[keep], np.float32(pre["band_max_mean"]), steps.BETA, 69))
    np.testing.assert_allclose(held.latents()[0], expected, rtol=1e-5, atol=1e-5)
    truth = pd.read_parquet(tmp_path / "catalog.parquet").set_index("id").loc[ids[keep]]
    np.testing.assert_allclose(held.values()["logmstar"], truth["logmstar"])
    np.testing.assert_allclose(held.fluxes(), latents.cutout_fluxes(tmp_path / "cutouts.h5", ids[keep]), rtol=1e-5)
