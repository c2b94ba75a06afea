"""SVM + SMOTE trials, 2-D boundaries, latent nearest neighbours and the Fig. 2 / Fig. 3 drawings on synthetic latents."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from raregal.paper_a import anomalies, figures

matplotlib.use("Agg")


def _latents(n_normal=300, n_rs=30, n_gp=8, sep=6.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n_normal, 5)), rng.normal(0, 0.5, (n_rs, 5)) + [sep, 0, 0, 0, 0],
                   rng.normal(0, 0.5, (n_gp, 5)) + [0, -sep, 0, 0, 0]])
    y = np.array(["normal"] * n_normal + ["red_spiral"] * n_rs + ["green_pea"] * n_gp)
    return X, y


def test_svm_trials_separable_classes():
    X, y = _latents()
    t = anomalies.svm_trials(X, y, n_trials=5, seed=0)
    assert len(t) == 10 and set(t["class"]) == {"red_spiral", "green_pea"}
    assert (t.recovery == 1).all() and (t.contamination <= 0.01).all()
    gp = t[t["class"] == "green_pea"]
    assert (gp.n_test == 2).all() and (gp.n_train == 6).all()  # stratified 80/20 of 8
    assert (t.n_test_normal == 60).all()


def _rows(a) -> set[bytes]:
    return {row.tobytes() for row in np.ascontiguousarray(a, dtype=np.float64)}


def test_svm_pipeline_resamples_training_only(monkeypatch):
    """SMOTE is fitted on exactly the training rows of each trial, never on a test row; the test rows
    reach the fitted pipeline only through predict (where imblearn skips the sampler)."""
    X, y = _latents()
    real_pipeline = anomalies.rbf_pipeline
    trials = []

    def spied_pipeline(y_train, seed=0):
        pipe = real_pipeline(y_train, seed)
        assert [name for name, _ in pipe.steps] == ["smote", "scale", "svm"]
        smote, predict = pipe.named_steps["smote"], pipe.predict
        trial = {"predicted": []}
        trials.append(trial)

        def fit_resample(X_fit, y_fit, **kw):
            trial["smote_rows"] = np.array(X_fit, copy=True)
            X_out, y_out = type(smote).fit_resample(smote, X_fit, y_fit, **kw)
            trial["resampled_counts"] = pd.Series(y_out).value_counts()
            return X_out, y_out

        def record_predict(X_pred, **kw):
            trial["predicted"].append(np.array(X_pred, copy=True))
            return predict(X_pred, **kw)

        smote.fit_resample, pipe.predict = fit_resample, record_predict
        return pipe

    monkeypatch.setattr(anomalies, "rbf_pipeline", spied_pipeline)
    result = anomalies.svm_trials(X, y, n_trials=3, seed=0)
    assert len(trials) == 3 and len(result) == 6
    all_rows = _rows(X)
    for trial in trials:
        (test_rows,) = trial["predicted"]
        fitted = _rows(trial["smote_rows"])
        tested = _rows(test_rows)
        assert not fitted & tested, f"SMOTE was fitted on {len(fitted & tested)} test rows"
        assert fitted | tested == all_rows and len(fitted) == len(X) - len(test_rows)  # it saw every training row
        assert len(test_rows) == round(0.2 * len(X))
        counts = trial["resampled_counts"]  # SMOTE balanced the three classes of the training part
        assert set(counts.index) == {"normal", "red_spiral", "green_pea"} and counts.nunique() == 1
    svm = real_pipeline(y, seed=0).named_steps["svm"]
    assert svm.gamma == "scale" and svm.kernel == "rbf"


def test_svm_trials_overlapping_classes_and_small_class():
    X, y = _latents(sep=0.0, n_gp=3)  # anomalies inside the normals: recovery must fall, contamination rise
    t = anomalies.svm_trials(X, y, n_trials=3, seed=1)
    assert t.contamination.mean() > 0.02
    with pytest.raises(ValueError, match="at least 2"):
        anomalies.rbf_pipeline(np.array(["normal"] * 5 + ["green_pea"]))
    with pytest.raises(ValueError, match="need 'normal'"):
        anomalies.svm_trials(X[:10], np.array(["a"] * 10))


def test_svm_table_rows_percent_and_paper():
    trials = pd.DataFrame({"trial": [0, 1], "class": ["green_pea"] * 2, "recovery": [0.5, 1.0],
                           "contamination": [0.02, 0.04], "n_test": [2, 2], "n_test_normal": [50, 50],
                           "n_train": [8, 8]})
    r = anomalies.svm_table_rows(trials, "physics CVAE").set_index("quantity")
    assert r.loc["recovery [%]", "ours"] == pytest.approx(75) and r.loc["recovery [%]", "std"] == pytest.approx(25)
    assert r.loc["recovery [%]", "paper"] == 67 and r.loc["contamination [%]", "paper"] == 2
    assert r.loc["contamination [%]", "ours"] == pytest.approx(3)
    assert "paper ± 0" in r.loc["recovery [%]", "note"]


def test_linear_boundary_and_grid():
    rng = np.random.default_rng(0)
    X2 = np.vstack([rng.normal(0, 0.5, (100, 2)), rng.normal(0, 0.5, (20, 2)) + [4, 0]])
    y = np.array(["normal"] * 100 + ["red_spiral"] * 20)
    clf = anomalies.linear_boundary_2d(X2, y)
    assert clf.named_steps["svm"].kernel == "linear"
    xx, yy, zz = anomalies.decision_grid(clf, (-2, 6), (-2, 2), n=50)
    assert zz.shape == (50, 50)
    rs = list(clf.classes_).index("red_spiral")
    assert zz[25, -1] == rs and zz[25, 0] != rs


def test_nearest_normals_minkowski_and_sharing():
    normals = np.array([[0.0, 0.0], [3.0, 0.0], [2.0, 2.0], [10.0, 10.0]])
    anoms = np.array([[2.9, 0.0], [2.1, 1.9]])
    d, i = anomalies.nearest_normals(anoms, normals, k=2, p=1)
    assert i[0, 0] == 1 and d[0, 0] == pytest.approx(0.1) and i[1, 0] == 2 and d[1, 0] == pytest.approx(0.2)
    _, i2 = anomalies.nearest_normals([[2.0, 0.9]], normals, k=1, p=1)  # L1: (3,0) at 1.9 vs (2,2) at 1.1
    assert i2[0, 0] == 2
    shared = anomalies.shared_neighbours(i, d, ["red_spiral", "red_spiral"])
    top = shared.iloc[0]
    assert top["class"] == "red_spiral" and top.n_anomalies == 2 and int(top.normal) in (1, 2)
    assert shared.n_anomalies.sum() == 4


def test_rgb_is_z_r_g_as_red_green_blue():
    imgs = np.zeros((2, 3, 5, 5))
    imgs[:, 2] = 1.0  # z band → red
    imgs[:, 0] = 2.0  # g band → blue, clipped to 1
    out = figures.rgb(imgs)
    assert out.shape == (2, 5, 5, 3)
    np.testing.assert_array_equal(out[0, 0, 0], [1.0, 0.0, 1.0])


def test_latent_projection_figure_draws_each_class_and_the_svm_regions():
    """Fig. 2: every panel scatters each class at its two latents; only the physics panels carry the
    2-D linear-SVM decision regions (filled) and boundaries (lines)."""
    from matplotlib.collections import PathCollection
    from matplotlib.contour import ContourSet

    X, y = _latents(n_normal=80)
    van = X[:, ::-1] + 10  # other numbers than the physics latents, so a swap would show
    fig = figures.figure_latent_projections(van, X, y, [(0, 1)], [(0, 1), (2, 4)], list("abcde"))
    panels = {ax.get_xlabel(): ax for ax in fig.axes if ax.get_xlabel()}
    expected = {"vanilla latent 1": (van, (0, 1)), "physics latent 1: a": (X, (0, 1)),
                "physics latent 3: c": (X, (2, 4))}
    assert set(panels) == set(expected)
    for label, (lat, (i, j)) in expected.items():
        ax = panels[label]
        points = {c.get_label(): c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)}
        for cls, legend in (("normal", "normal (80)"), ("red_spiral", "red spiral (30)"),
                            ("green_pea", "green pea (8)")):
            np.testing.assert_allclose(points[legend], lat[y == cls][:, [i, j]])
        regions = [c for c in ax.collections if isinstance(c, ContourSet)]
        assert len(regions) == (2 if label.startswith("physics") else 0)


def test_neighbours_figure_shows_the_most_shared_normals():
    """Fig. 3: per anomaly class, the images of its first ``n_show`` shared neighbours, as RGB."""
    X, y = _latents(n_normal=80)
    _, idx = anomalies.nearest_normals(X[y != "normal"], X[y == "normal"], k=3)
    shared = anomalies.shared_neighbours(idx, np.ones_like(idx, float), y[y != "normal"])
    images = np.random.default_rng(1).random((80, 3, 8, 8))
    fig = figures.figure_neighbours(images, shared, n_show=5)
    shown = [np.asarray(a.images[0].get_array()) for a in fig.axes if a.images]
    top = shared.groupby("class").head(5)
    assert len(shown) == len(top)
    expected = {figures.rgb(images[[int(n)]])[0].tobytes() for n in top["normal"]}
    assert {a.tobytes() for a in shown} == expected
