"""Latent calibration and interval calibration of raregal.paper_a.infer, on synthetic data whose truth
is known: the conformal intervals must cover what they claim (±2 % on held-out draws), the normalised
ones must be narrower where σ tracks the error, and a fitted linear map must be recovered."""
from __future__ import annotations

import numpy as np
import pytest

from raregal.paper_a.infer.calibration import PropertyCalibration, fit_calibration
from raregal.paper_a.infer.intervals import (
    IntervalCalibration,
    compare_methods,
    conformal_quantiles,
    coverage_by_sigma,
    coverage_rows,
    fit_intervals,
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
    comparison = compare_methods(truth, good, None, seed=0, methods=("conformal",))
    table = coverage.intervals_table(comparison, coverage.baseline_comparison(poor, catalog, seed=0), "conformal")
    assert set(table["method"]) == {"physics CVAE, conformal", "photometry + MLP, conformal"}
    assert len(table) == 2 * 3 * 2 * 2  # models × quantities × levels × (coverage, width)
    cov = table[table["statistic"] == "coverage"]
    assert (abs(cov["ours"] - cov["level"]) < 0.03).all()
    assert cov["note"].str.contains("the bundle's intervals").sum() == 6
    ratio = coverage.width_ratio(table, "conformal")
    for q in truth:
        assert ratio[q] == pytest.approx(0.2 / 0.6, rel=0.1)
