"""The CVAE's training data: eq. 1 images and eq. 2 targets as tensors, and their dihedral views.

Data are held as tensors and batched by index by :mod:`raregal.paper_a.cvae.train` (no per-sample
Python lists or collation — see ``benchmarks/cvae.py`` for what that buys). :func:`data_from_processed`
builds them from the files of notebook 02; :meth:`TrainData.fingerprint` lets a resume refuse a state
trained on other data; :func:`dihedral` gives the flipped/transposed views used when ``augment`` is on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from raregal.paper_a.cvae.loss import property_targets, wrap_orientation


@dataclass
class TrainData:
    """Normalised images (N, C, H, W) float32 and property targets/errors (N, 4) for train and val."""

    x_train: torch.Tensor
    p_train: torch.Tensor
    s_train: torch.Tensor
    x_val: torch.Tensor
    p_val: torch.Tensor
    s_val: torch.Tensor

    def __post_init__(self):
        for part in ("train", "val"):
            x, p, s = (getattr(self, f"{k}_{part}") for k in "xps")
            if x.ndim != 4 or len(x) == 0:
                raise ValueError(f"x_{part} must be a non-empty (N, C, H, W) tensor, got shape {tuple(x.shape)}")
            if not (len(p) == len(s) == len(x)):
                raise ValueError(f"{part}: {len(x)} images but {len(p)} targets and {len(s)} errors")
            if not torch.isfinite(x).all():
                raise ValueError(f"x_{part} has non-finite pixels; preprocessing must drop those cutouts")
            if not (torch.isfinite(p).all() and torch.isfinite(s).all() and (s > 0).all()):
                raise ValueError(f"{part}: targets must be finite and errors > 0 (use loss.property_targets)")

    def fingerprint(self) -> list[float]:
        """Cheap identity of the data set, so a resume never mixes two data sets."""
        return [float(len(self.x_train)), float(len(self.x_val)), float(self.p_train.double().sum()),
                float(self.x_train[::37].double().sum()), float(self.x_val[::37].double().sum())]


def dihedral(x: torch.Tensor, p: torch.Tensor, op: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 flips/transposes of a square image, with the orientation target (column 0) moved.

    Convention of CONTRIBUTING.md: φ counter-clockwise from +x (columns) toward +y (rows), mod π.
    Transpose: φ → π/2 − φ; flipping rows or columns: φ → −φ. z, M*, SFR do not change. A galaxy
    seen flipped is another equally likely galaxy, so this multiplies the training set by 8 — needed
    on a few thousand galaxies, where the dense head (32·18·18 inputs) otherwise memorises the targets.
    """
    phi = p[:, :1]
    if op & 4:
        x, phi = x.transpose(-1, -2), math.pi / 2 - phi
    if op & 1:
        x, phi = x.flip(-1), -phi
    if op & 2:
        x, phi = x.flip(-2), -phi
    return x, torch.cat([wrap_orientation(phi), p[:, 1:]], 1)


def data_from_processed(images, catalog: pd.DataFrame, floors: dict | None = None):
    """(TrainData, Targets report) from ``load_processed``: rows with split train / val."""
    if "split" not in catalog.columns:
        raise ValueError("processed catalog has no 'split' column; rerun 02_preprocess")
    tr = (catalog["split"] == "train").to_numpy()
    va = (catalog["split"] == "val").to_numpy()
    if not tr.any() or not va.any():
        raise ValueError(f"need train and val rows, have {catalog['split'].value_counts().to_dict()}")
    targets = property_targets(catalog[tr | va], floors=floors)
    x = torch.from_numpy(np.ascontiguousarray(images[tr | va], dtype=np.float32))
    p, s = torch.from_numpy(targets.values), torch.from_numpy(targets.sigmas)
    sub = np.flatnonzero(tr | va)
    in_tr = torch.from_numpy(tr[sub])
    return TrainData(x[in_tr], p[in_tr], s[in_tr], x[~in_tr], p[~in_tr], s[~in_tr]), targets
