"""Latents of a trained CVAE and how well they carry the physics (paper A Fig. 1, Table 1, timing).

- :func:`encode` — μ for every galaxy (BatchNorm folded into the convolutions, channels-last, no
  decoder): what a survey-scale run would call.
- :func:`r2_linear` — Table 1's metric: R² of a linear regression from latent(s) to a catalog value,
  fitted and scored on the validation galaxies (paper §3).
- Baselines computed on the same split, standing in for those the paper quotes from AstroCLIP
  (Lanusse et al. 2023):
  (g, r, z) aperture photometry + MLP, and an image embedding + kNN. Our embedding is a PCA of the
  normalised pixels (AstroCLIP's embedding cannot be computed here); both are fitted on the training
  galaxies and scored on the validation galaxies.
"""
from __future__ import annotations

import time
from typing import Sequence

import h5py
import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from raregal.paper_a import values
from raregal.paper_a.cvae.loss import PROPERTIES
from raregal.paper_a.cvae.model import ConvVAE

LATENT_NAMES = ("orientation", "z", "logmstar", "logsfr", "morphology")  # physics CVAE latents 1-5
TABLE1_QUANTITIES = ("z", "logmstar", "logsfr")
ZERO_POINT = 22.5  # nanomaggies → AB magnitude


def fast_encoder(model: ConvVAE) -> nn.Module:
    """The encoder alone, in eval mode with BatchNorm folded into the convolutions (same μ, faster)."""
    from torch.fx.experimental.optimization import fuse

    enc = nn.Sequential(*model.enc1, *model.enc2, *model.enc3).eval()
    return fuse(enc).to(memory_format=torch.channels_last)


#: galaxies per encoder call: a chunk's activations stay in cache. Measured on this 2-core CPU with
#: the other core busy: 2 threads 0.071-0.077 ms/galaxy in chunks of 32, 0.087-0.100 in 128, 0.09-0.10
#: in 256; 1 thread 0.119 (32), 0.134 (128), 0.25 (256), 0.64 in one batch of 4096.
ENCODE_CHUNK = 32


def _encode_chunks(enc: nn.Module, x: torch.Tensor, d: int, chunk: int) -> np.ndarray:
    out = np.empty((len(x), d), dtype=np.float32)
    for i in range(0, len(x), chunk):
        out[i:i + chunk] = enc(x[i:i + chunk].contiguous(memory_format=torch.channels_last))[:, :d].numpy()
    return out


def encode(model: ConvVAE, images, batch_size: int = ENCODE_CHUNK) -> np.ndarray:
    """μ (N, latent_dim) float32 for normalised images (N, 3, H, W), numpy or torch, in chunks."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)) if not torch.is_tensor(images) else images
    with torch.inference_mode():
        return _encode_chunks(fast_encoder(model), x, model.arch.latent_dim, batch_size)


def encode_timing(model: ConvVAE, images, batch_sizes: Sequence[int] = (1, 128, 4096),
                  n_galaxies: int = 4096, repeats: int = 3, chunk: int = ENCODE_CHUNK) -> pd.DataFrame:
    """ms per galaxy for :func:`encode` given ``b`` galaxies at once (run in chunks of ``chunk``),
    for each ``b`` in ``batch_sizes`` (best of ``repeats``)."""
    enc = fast_encoder(model)
    d = model.arch.latent_dim
    x = torch.as_tensor(np.asarray(images[:max(batch_sizes)], dtype=np.float32))
    rows = []
    with torch.inference_mode():
        for b in batch_sizes:
            xb = x[:b] if len(x) >= b else x.repeat((b + len(x) - 1) // len(x), 1, 1, 1)[:b]
            _encode_chunks(enc, xb, d, chunk)  # warm-up
            n_calls = max(1, min(n_galaxies // b, 200))
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(n_calls):
                    _encode_chunks(enc, xb, d, chunk)
                best = min(best, (time.perf_counter() - t0) / (n_calls * b))
            rows.append({"batch_size": b, "ms_per_galaxy": best * 1e3, "threads": torch.get_num_threads(),
                         "chunk": min(b, chunk)})
    return pd.DataFrame(rows)


def r2_linear(features, target) -> float:
    """R² of an ordinary least-squares fit target ~ features (1-D or 2-D), in sample."""
    X = np.asarray(features, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    y = np.asarray(target, dtype=np.float64)
    ok = np.isfinite(X).all(1) & np.isfinite(y)
    if ok.sum() < X.shape[1] + 2:
        raise ValueError(f"only {int(ok.sum())} finite rows for a {X.shape[1]}-feature linear fit")
    return float(LinearRegression().fit(X[ok], y[ok]).score(X[ok], y[ok]))


def aperture_weights(size: int, radius_px: float) -> np.ndarray:
    """Exact circular-aperture overlap weights (photutils) centred on a size×size cutout."""
    from photutils.aperture import CircularAperture

    c = (size - 1) / 2
    return CircularAperture((c, c), r=radius_px).to_mask(method="exact").to_image((size, size))


def cutout_fluxes(cutouts_h5, ids, radius_px: float = 8.0, chunk: int = 1024) -> np.ndarray:
    """Aperture fluxes (N, 3) in nanomaggies for the galaxies ``ids``, from the interim cutouts file.

    Rows are matched by ``id``; an id missing from the file is a clear error.
    """
    with h5py.File(cutouts_h5, "r") as f:
        file_ids = f["id"][:]
        pos = pd.Series(np.arange(len(file_ids)), index=file_ids)
        missing = ~pd.Index(ids).isin(pos.index)
        if missing.any():
            raise KeyError(f"{int(missing.sum())} ids not in {cutouts_h5} (e.g. {np.asarray(ids)[missing][:3]})")
        rows = pos.loc[np.asarray(ids)].to_numpy()
        images = f["images"]
        w = aperture_weights(images.shape[-1], radius_px)
        order = np.argsort(rows)
        out = np.empty((len(rows), images.shape[1]), dtype=np.float64)
        for i in range(0, len(rows), chunk):
            sel = order[i:i + chunk]
            block = images[np.sort(rows[sel])]  # h5py needs increasing indices
            out[sel[np.argsort(rows[sel])]] = np.einsum("nbyx,yx->nb", np.nan_to_num(block), w)
    return out


def magnitudes(fluxes: np.ndarray, floor_nmgy: float = 1e-2) -> tuple[np.ndarray, int]:
    """AB magnitudes from nanomaggies; fluxes below ``floor_nmgy`` are clipped to it (count returned)."""
    f = np.asarray(fluxes, dtype=np.float64)
    low = ~(f >= floor_nmgy)
    return ZERO_POINT - 2.5 * np.log10(np.where(low, floor_nmgy, f)), int(low.any(1).sum())


def photometry_features(fluxes: np.ndarray) -> tuple[np.ndarray, int]:
    """(g, r, z) magnitudes and the g−r, r−z colours; and how many galaxies had a clipped flux."""
    mags, n_clipped = magnitudes(fluxes)
    return np.column_stack([mags, mags[:, 0] - mags[:, 1], mags[:, 1] - mags[:, 2]]), n_clipped


def photometry_mlp(seed: int = 0, hidden: tuple[int, ...] = (64, 64)):
    """The photometry baseline (AstroCLIP's, Lanusse et al. 2023): standardised features → MLP regressor."""
    return make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=hidden, early_stopping=True,
                                                        max_iter=500, random_state=seed))


def photometry_mlp_r2(phot_train, y_train, phot_val, y_val, seed: int = 0,
                      hidden: tuple[int, ...] = (64, 64)) -> float:
    """R² on validation of :func:`photometry_mlp` trained on (g, r, z) photometry."""
    mlp = photometry_mlp(seed, hidden)
    mlp.fit(phot_train, y_train)
    return float(r2_score(y_val, mlp.predict(phot_val)))


def pixel_embedding(images_train, images_other: Sequence, n_components: int = 32, seed: int = 0):
    """PCA of the normalised pixels fitted on the training images; returns (train, *others) embeddings."""
    flat = lambda a: np.asarray(a, dtype=np.float32).reshape(len(a), -1)  # noqa: E731
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed).fit(flat(images_train))
    return [pca.transform(flat(images_train))] + [pca.transform(flat(a)) for a in images_other]


def embedding_knn_r2(emb_train, y_train, emb_val, y_val, k: int = 16) -> float:
    """R² on validation of a kNN regressor on an image embedding (AstroCLIP's kNN baseline, Lanusse et al. 2023)."""
    knn = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=k, weights="distance"))
    knn.fit(emb_train, y_train)
    return float(r2_score(y_val, knn.predict(emb_val)))


def table1_rows(phys_lat, van_lat, cat_val, baselines: dict[tuple[str, str], float],
                truth: bool = True) -> pd.DataFrame:
    """Long-format Table 1: R² per method and quantity against the catalog (and the mock truth)."""
    rows = []
    against = [("catalog", "")] + ([("truth", "true_")] if truth else [])
    for target, prefix in against:
        for q in TABLE1_QUANTITIES:
            col = prefix + q
            if col not in cat_val.columns:
                continue
            y = cat_val[col].to_numpy()
            k = PROPERTIES.index(q)
            rows.append({"method": "physics CVAE", "quantity": q, "against": target,
                         "ours": r2_linear(phys_lat[:, k], y), "note": f"latent {k + 1} alone"})
            rows.append({"method": "vanilla CVAE", "quantity": q, "against": target,
                         "ours": r2_linear(van_lat, y), "note": "all 5 latents"})
            if target == "catalog":
                for (method, bq), v in baselines.items():
                    if bq == q:
                        rows.append({"method": method, "quantity": q, "against": target, "ours": v,
                                     "note": "trained on train split, scored on val"})
    df = pd.DataFrame(rows)
    df["paper"] = [values.PAPER_TABLE1.get((m, q), np.nan) if a == "catalog" else np.nan
                   for m, q, a in zip(df.method, df.quantity, df.against)]
    df["n"] = len(cat_val)
    return df


# ---------------------------------------------------------------------------------------------
# The latent table that notebooks 04-06 share (computed once in 04, read by 05 and 06)
# ---------------------------------------------------------------------------------------------
MODEL_NAMES = ("physics", "vanilla", "physics_periodic")


def latent_columns(model_name: str, d: int = 5) -> list[str]:
    """Column names of one model's latents in ``latents.parquet``: ``<model>_1`` … ``<model>_d``."""
    return [f"{model_name}_{k + 1}" for k in range(d)]


def latents_path(cfg):
    """``data/models/<source>-<profile>/cvae/latents.parquet``, written by 04_latent_properties."""
    return cfg.data_dir("models", "cvae", "latents.parquet")


def encode_all(cfg, images, catalog: pd.DataFrame, batch_size: int = ENCODE_CHUNK) -> pd.DataFrame:
    """Encode every processed galaxy with each trained model (best.pt); save ``latents.parquet``.

    The physics and vanilla models are required (made by 03_train_cvae); the periodic-orientation
    variant is included when it was trained.
    """
    from raregal.core.config import require
    from raregal.core.outputs import atomic_path
    from raregal.paper_a.cvae.model import load_model
    from raregal.paper_a.cvae.train import models_dir

    frame = catalog[["id", "class", "split"]].reset_index(drop=True).copy()
    for name in MODEL_NAMES:
        path = models_dir(cfg, name) / "best.pt"
        if name == "physics_periodic" and not path.exists():
            continue
        model, payload = load_model(require(path, made_by="03_train_cvae"))
        lat = encode(model, images, batch_size=batch_size)
        frame[latent_columns(name, lat.shape[1])] = lat
        frame.attrs[f"{name}_epoch"] = payload["epoch"]
    with atomic_path(latents_path(cfg)) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def load_latents(cfg, catalog: pd.DataFrame | None = None) -> pd.DataFrame:
    """``latents.parquet`` of 04_latent_properties, checked row by row against the processed catalog."""
    from raregal.core.config import require

    frame = pd.read_parquet(require(latents_path(cfg), made_by="04_latent_properties"))
    if catalog is not None and not np.array_equal(frame["id"].to_numpy(), catalog["id"].to_numpy()):
        raise ValueError(f"{latents_path(cfg)} does not match the processed catalog (rerun 04_latent_properties)")
    return frame


def baselines_r2(images, catalog: pd.DataFrame, fluxes: np.ndarray, quantities=TABLE1_QUANTITIES,
                 n_components: int = 32, k: int = 16, seed: int = 0) -> tuple[dict, dict]:
    """Table 1 baselines fitted on split == train and scored on split == val.

    ``fluxes``: (N, 3) aperture fluxes aligned with ``catalog``. Returns (R² by (method, quantity),
    notes such as the number of clipped fluxes).
    """
    tr = (catalog["split"] == "train").to_numpy()
    va = (catalog["split"] == "val").to_numpy()
    phot, n_clipped = photometry_features(fluxes)
    emb_tr, emb_va = pixel_embedding(images[tr], [images[va]], n_components=n_components, seed=seed)
    out = {}
    for q in quantities:
        y = catalog[q].to_numpy()
        out[("photometry + MLP", q)] = photometry_mlp_r2(phot[tr], y[tr], phot[va], y[va], seed=seed)
        out[("image embedding + kNN", q)] = embedding_knn_r2(emb_tr, y[tr], emb_va, y[va], k=k)
    return out, {"photometry_clipped_fluxes": n_clipped}


def eq1_inverse(images, band_max_mean: Sequence[float], beta: float = values.EQ1_BETA) -> np.ndarray:
    """Undo eq. 1 pixel by pixel: x = ⟨max x_b⟩/β · sinh(artanh(x')) (exact but for float32 rounding at
    x' → 1 and for the resize, which mixes pixels after the non-linear stretch)."""
    m = np.asarray(band_max_mean, dtype=np.float64)[None, :, None, None]
    x = np.clip(np.asarray(images, dtype=np.float64), -1 + 1e-7, 1 - 1e-7)
    return m / beta * np.sinh(np.arctanh(x))


def information_rows(images, catalog: pd.DataFrame, fluxes: np.ndarray, band_max_mean: Sequence[float],
                     radius_px: float, raw_size: int = 128, quantities=TABLE1_QUANTITIES,
                     seed: int = 0) -> pd.DataFrame:
    """Why Table 1's ordering can differ on the mock: what photometry carries, and what eq. 1 keeps of it.

    The same MLP as the photometry baseline (trained on split == train, scored on val) on other inputs:

    - the aperture photometry scored against the mock's *true* values (catalog SED-fit noise removed);
    - the mock's noiseless total g, r, z fluxes (``true_flux_*``): what colours + flux determine in the
      mock's physics, with no photometric noise (an upper bound for any image model);
    - aperture sums of the eq. 1-normalised 69 px images (the same aperture, rescaled): the flux a
      CVAE sees through the tanh(asinh) stretch, which saturates bright cores;
    - the same aperture on the normalised images after undoing eq. 1 (:func:`eq1_inverse`): whether
      the information is lost by eq. 1 + resize or only compressed.
    """
    tr = (catalog["split"] == "train").to_numpy()
    va = (catalog["split"] == "val").to_numpy()
    size = images.shape[-1]
    w = aperture_weights(size, radius_px * size / raw_size)
    ap_norm = np.einsum("nbyx,yx->nb", np.asarray(images, dtype=np.float32), w.astype(np.float32))
    inputs = {("photometry + MLP", "truth"): photometry_features(fluxes)[0]}
    notes = {"photometry + MLP": "scored against the mock truth"}
    if all(f"true_flux_{b}" in catalog.columns for b in "grz"):
        inputs[("noiseless total photometry + MLP", "catalog")] = photometry_features(
            catalog[[f"true_flux_{b}" for b in "grz"]].to_numpy())[0]
        notes["noiseless total photometry + MLP"] = "mock true g, r, z fluxes: colours + flux without noise"
    inputs[("eq. 1 image aperture sums + MLP", "catalog")] = np.column_stack(
        [ap_norm, ap_norm[:, 0] - ap_norm[:, 1], ap_norm[:, 1] - ap_norm[:, 2]])
    notes["eq. 1 image aperture sums + MLP"] = "aperture sums of the normalised 69 px pixels (the CVAE's input)"
    inv = np.concatenate([np.einsum("nbyx,yx->nb", eq1_inverse(images[i:i + 512], band_max_mean), w)
                          for i in range(0, len(images), 512)]) * (raw_size / size) ** 2
    inputs[("eq. 1 undone, aperture photometry + MLP", "catalog")] = photometry_features(inv)[0]
    notes["eq. 1 undone, aperture photometry + MLP"] = "the normalised 69 px images with eq. 1 inverted"
    rows = []
    for (method, against), X in inputs.items():
        for q in quantities:
            col = ("true_" if against == "truth" else "") + q
            if col not in catalog.columns:
                continue
            y = catalog[col].to_numpy()
            rows.append({"method": method, "quantity": q, "against": against, "paper": np.nan,
                         "ours": photometry_mlp_r2(X[tr], y[tr], X[va], y[va], seed=seed),
                         "note": "diagnostic: " + notes[method], "n": int(va.sum())})
    return pd.DataFrame(rows)


def timing_rows(timing: pd.DataFrame, n_galaxies: float = values.RUBIN_GALAXIES) -> pd.DataFrame:
    """Long-format timing table: ms/galaxy per batch size and the CPU-hours to encode ``n_galaxies``.

    CPU-hours = wall time × threads used. Note the paper's two numbers disagree with each other:
    7 ms × 2e10 galaxies is ≈ 39,000 CPU-hours, while 1500 CPU-hours implies ≈ 0.27 ms/galaxy.
    """
    rows = []
    largest = int(timing.batch_size.max())
    for r in timing.itertuples():
        b = int(r.batch_size)
        rows.append({"quantity": "encode time [ms/galaxy]", "batch_size": b, "ours": r.ms_per_galaxy,
                     "paper": values.PAPER_ENCODE_MS if b == 1 else np.nan, "n": int(r.threads),
                     "note": "n = CPU threads; paper: Apple M2 Max, batch size not stated" if b == 1
                     else f"n = CPU threads; encode() runs chunks of {int(getattr(r, 'chunk', b))}"})
        rows.append({"quantity": f"CPU-hours for {n_galaxies:.0e} galaxies", "batch_size": b,
                     "ours": r.ms_per_galaxy * 1e-3 * n_galaxies * r.threads / 3600,
                     "paper": values.PAPER_SURVEY_CPU_HOURS if b == largest else np.nan, "n": int(r.threads),
                     "note": "paper's 1500 h implies 0.27 ms/galaxy; its 7 ms would give ~39,000 h"})
    return pd.DataFrame(rows)


def orientation_rows(frame_val: pd.DataFrame, catalog_val: pd.DataFrame) -> pd.DataFrame:
    """Orientation latent vs measured orientation: periodic (mod π) rms, for each physics model present.

    Reported beside Table 1 because the paper notes that the plain squared difference fails at
    π/2 ≡ −π/2; ``physics_periodic`` is the variant trained with the wrapped difference.
    """
    from raregal.paper_a.orientation import periodic_rms

    rows = []
    phi = catalog_val["orientation"].to_numpy()
    for name, label in (("physics", "physics CVAE"), ("physics_periodic", "physics CVAE, periodic φ loss")):
        col = f"{name}_1"
        if col in frame_val.columns:
            rows.append({"method": label, "quantity": "orientation rms mod π [rad]", "against": "catalog",
                         "ours": periodic_rms(frame_val[col].to_numpy(), phi), "paper": np.nan,
                         "n": len(phi), "note": "random axes would give 0.91 rad"})
    return pd.DataFrame(rows)
