"""Encoding, R² regressions, the Table 1 baselines and the Fig. 1 drawing on tiny synthetic data."""
import h5py
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from raregal.paper_a import figures, latents
from raregal.paper_a.cvae import PROPERTIES, Arch, ConvVAE

matplotlib.use("Agg")
TINY = Arch(latent_dim=5, channels=(4, 8), image_size=17)


def _trained_like_model():
    torch.manual_seed(0)
    m = ConvVAE(TINY)
    m.train()
    with torch.no_grad():  # give BatchNorm non-trivial running statistics to fold
        for _ in range(3):
            m(torch.rand(16, 3, 17, 17) * 2)
    return m.eval()


def test_encode_equals_model_mu_and_is_batched():
    m = _trained_like_model()
    x = torch.rand(37, 3, 17, 17)
    with torch.inference_mode():
        mu, _ = m.encode(x)
    out = latents.encode(m, x.numpy(), batch_size=8)
    assert out.shape == (37, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, mu.numpy(), rtol=1e-4, atol=1e-5)


def test_encode_timing_rows():
    t = latents.encode_timing(_trained_like_model(), np.random.rand(8, 3, 17, 17), batch_sizes=(1, 16),
                              n_galaxies=32, repeats=1)
    assert list(t.batch_size) == [1, 16] and (t.ms_per_galaxy > 0).all()
    assert list(t.chunk) == [1, min(16, latents.ENCODE_CHUNK)]
    rows = latents.timing_rows(t)
    assert rows.note.str.contains(f"chunks of {min(16, latents.ENCODE_CHUNK)}").any()


def test_r2_linear():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    assert latents.r2_linear(x, 3 * x - 2) == pytest.approx(1.0)
    assert latents.r2_linear(x, rng.normal(size=500)) < 0.02
    two = rng.normal(size=(500, 2))
    assert latents.r2_linear(two, two[:, 0] - two[:, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite rows"):
        latents.r2_linear([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])


def test_cutout_fluxes_aligned_by_id(tmp_path):
    n, size = 6, 33
    imgs = np.ones((n, 3, size, size), np.float32) * np.arange(1, n + 1, dtype=np.float32)[:, None, None, None]
    imgs[:, 1] *= 2  # r twice g
    path = tmp_path / "cutouts.h5"
    with h5py.File(path, "w") as f:
        f["images"] = imgs
        f["id"] = np.arange(100, 100 + n)
    ids = np.array([104, 100, 102])
    flux = latents.cutout_fluxes(path, ids, radius_px=5, chunk=2)
    area = np.pi * 25
    np.testing.assert_allclose(flux[:, 0], np.array([5, 1, 3]) * area, rtol=1e-6)
    np.testing.assert_allclose(flux[:, 1], 2 * flux[:, 0])
    with pytest.raises(KeyError, match="1 ids not in"):
        latents.cutout_fluxes(path, [100, 999])


def test_magnitudes_and_clipping():
    mags, n = latents.magnitudes(np.array([[1.0, 100.0, 1e-5], [10.0, 10.0, 10.0]]))
    assert mags[0, 0] == pytest.approx(22.5) and mags[0, 1] == pytest.approx(17.5)
    assert n == 1 and mags[0, 2] == pytest.approx(22.5 + 5)
    feats, _ = latents.photometry_features(np.array([[1.0, 10.0, 100.0]]))
    assert feats.shape == (1, 5) and feats[0, 3] == pytest.approx(2.5) and feats[0, 4] == pytest.approx(2.5)


def test_baselines_learn_simple_relations():
    rng = np.random.default_rng(0)
    y = rng.uniform(0, 1, 400)
    phot = np.column_stack([20 + 2 * y, 19 + y, 18.5 + 0.5 * y]) + rng.normal(0, 0.02, (400, 3))
    assert latents.photometry_mlp_r2(phot[:300], y[:300], phot[300:], y[300:]) > 0.8
    imgs = y[:, None, None, None] * rng.uniform(0.5, 1, (1, 3, 9, 9)) + rng.normal(0, 0.01, (400, 3, 9, 9))
    e_tr, e_va = latents.pixel_embedding(imgs[:300], [imgs[300:]], n_components=4)
    assert e_tr.shape == (300, 4) and e_va.shape == (100, 4)
    assert latents.embedding_knn_r2(e_tr, y[:300], e_va, y[300:]) > 0.9


def _val_catalog(n=200, seed=0):
    rng = np.random.default_rng(seed)
    cat = pd.DataFrame({q: rng.normal(size=n) for q in ("orientation", "z", "logmstar", "logsfr")})
    for q in ("z", "logmstar", "logsfr"):
        cat[f"{q}_err"] = 0.1
        cat[f"true_{q}"] = cat[q] + rng.normal(0, 0.1, n)
    return cat


def test_table1_rows_layout_and_paper_values():
    cat = _val_catalog()
    phys = np.column_stack([cat.orientation, cat.z, cat.logmstar, 0.5 * cat.logsfr, np.zeros(len(cat))])
    van = np.random.default_rng(1).normal(size=(len(cat), 5))
    t = latents.table1_rows(phys, van, cat, {("photometry + MLP", "z"): 0.5, ("image embedding + kNN", "logmstar"): 0.4})
    row = t.set_index(["method", "quantity", "against"])
    assert row.loc[("physics CVAE", "z", "catalog"), "ours"] == pytest.approx(1.0)
    assert row.loc[("physics CVAE", "z", "catalog"), "paper"] == 0.83
    assert row.loc[("physics CVAE", "logsfr", "catalog"), "paper"] == 0.26
    assert row.loc[("photometry + MLP", "z", "catalog"), "paper"] == 0.69
    assert np.isnan(row.loc[("vanilla CVAE", "z", "catalog"), "paper"])
    assert row.loc[("physics CVAE", "z", "truth"), "ours"] < 1 and np.isnan(row.loc[("physics CVAE", "z", "truth"), "paper"])
    assert row.loc[("vanilla CVAE", "z", "catalog"), "ours"] < 0.1
    assert {"method", "quantity", "against", "ours", "paper", "n", "note"} <= set(t.columns)


def test_figure_latents_vs_catalog_draws_latents_against_catalog_values():
    """Paper A Fig. 1: per property, the validation latents against the catalog values with the catalog
    1σ as x error bars (0.1 rad for orientation), Green Peas and Red Spirals as their own coloured
    artists drawn above, the R² of the linear fit as the panel title."""
    from matplotlib.colors import same_color

    rng = np.random.default_rng(0)
    cat = _val_catalog(50)
    for q in ("z", "logmstar", "logsfr"):
        cat[f"{q}_err"] = rng.uniform(0.05, 0.3, len(cat))  # a different 1σ per galaxy, so each bar is checked
    lat = rng.normal(size=(50, 5))
    rare = {"green_pea": (lat[:3] + 2, cat.iloc[:3]), "red_spiral": (lat[3:5] - 2, cat.iloc[3:5]),
            "empty": (lat[:0], cat.iloc[:0])}
    fig = figures.figure_latents_vs_catalog(lat, cat, rare, title="mock")
    expected = {"validation (50)": (lat, cat, "0.2"), "green pea (3)": (*rare["green_pea"], "tab:green"),
                "red spiral (2)": (*rare["red_spiral"], "tab:red")}
    assert len(fig.axes) == 4
    for k, (ax, q) in enumerate(zip(fig.axes, PROPERTIES)):
        drawn = {c.get_label(): c for c in ax.containers}
        assert set(drawn) == set(expected)  # a class without galaxies draws nothing
        for label, (lat_c, cat_c, colour) in expected.items():
            points, _, (bars,) = drawn[label].lines
            x, y = cat_c[q].to_numpy(), lat_c[:, k]
            sigma = np.full(len(x), 0.1) if q == "orientation" else cat_c[f"{q}_err"].to_numpy()
            np.testing.assert_allclose(np.asarray(points.get_xdata(), float), x)
            np.testing.assert_allclose(np.asarray(points.get_ydata(), float), y)
            ends = np.array(bars.get_segments())  # (n, 2, xy): horizontal bars x ± 1σ at the latent
            np.testing.assert_allclose(ends[:, 0, 0], x - sigma)
            np.testing.assert_allclose(ends[:, 1, 0], x + sigma)
            np.testing.assert_allclose(ends[:, :, 1], np.column_stack([y, y]))
            assert same_color(points.get_color(), colour)
            if label != "validation (50)":
                assert points.get_zorder() > drawn["validation (50)"].lines[0].get_zorder()
        assert ax.get_ylabel() == f"latent {k + 1}"
        assert ax.get_title() == f"R² = {latents.r2_linear(lat[:, k], cat[q]):.2f}"


def test_orientation_rows_periodic_rms():
    phi = np.array([1.5, -1.5, 0.0, 0.2])
    frame = pd.DataFrame({"physics_1": [-1.5, 1.5, 0.0, 0.2], "physics_periodic_1": phi + 0.1})
    rows = latents.orientation_rows(frame, pd.DataFrame({"orientation": phi})).set_index("method")
    # ±1.5 rad are 0.14 rad apart on the axis circle, not 3 rad
    assert rows.loc["physics CVAE", "ours"] == pytest.approx(np.sqrt(2 * (np.pi - 3.0) ** 2 / 4), rel=1e-6)
    assert rows.loc["physics CVAE, periodic φ loss", "ours"] == pytest.approx(0.1, rel=1e-6)


def test_eq1_inverse_undoes_the_normalisation():
    from raregal.paper_a.preprocess import normalise

    rng = np.random.default_rng(0)
    x = rng.gamma(0.5, 0.05, (4, 3, 9, 9)).astype(np.float32)
    bm = [0.08, 0.16, 0.29]
    np.testing.assert_allclose(latents.eq1_inverse(normalise(x, bm), bm), x, rtol=2e-3, atol=1e-6)


def test_information_rows_compare_inputs_of_the_photometry_mlp():
    from raregal.paper_a.preprocess import normalise

    rng = np.random.default_rng(0)
    n = 300
    z = rng.uniform(0.05, 0.5, n)
    flux = np.column_stack([10 ** (1 - 2 * z), 10 ** (1.2 - 1.5 * z), 10 ** (1.4 - z)])  # colours track z
    yy, xx = np.mgrid[:17, :17] - 8
    profile = np.exp(-(xx ** 2 + yy ** 2) / 8.0)
    raw = flux[:, :, None, None] * profile / profile.sum() + rng.normal(0, 1e-3, (n, 3, 17, 17))
    bm = raw.reshape(n, 3, -1).max(-1).mean(0)
    cat = pd.DataFrame({"z": z + rng.normal(0, 0.01, n), "true_z": z,
                        "split": np.where(np.arange(n) < 220, "train", "val")})
    for b, name in enumerate("grz"):
        cat[f"true_flux_{name}"] = flux[:, b]
    ap = latents.aperture_weights(17, 6.0)
    fluxes = np.einsum("nbyx,yx->nb", raw, ap)
    t = latents.information_rows(normalise(raw.astype(np.float32), bm), cat, fluxes, bm, radius_px=6.0,
                                 raw_size=17, quantities=("z",))
    got = t.set_index(["method", "against"])["ours"]
    assert set(got.index) == {("photometry + MLP", "truth"), ("noiseless total photometry + MLP", "catalog"),
                              ("eq. 1 image aperture sums + MLP", "catalog"),
                              ("eq. 1 undone, aperture photometry + MLP", "catalog")}
    assert got[("noiseless total photometry + MLP", "catalog")] > 0.9
    assert got[("eq. 1 undone, aperture photometry + MLP", "catalog")] > 0.9
    assert t["note"].str.startswith("diagnostic").all() and t["paper"].isna().all() and (t["n"] == 80).all()
