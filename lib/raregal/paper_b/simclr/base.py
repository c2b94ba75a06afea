"""The galaxy base trunk: a SimCLR encoder pretrained once on a large survey, in place of ImageNet.

Ma et al. (2025) Appendix A start SimCLR from an ImageNet-initialised ResNet-18. Nothing is downloaded
here, so the repository pretrains its own base on many survey galaxies (an expensive step whose
result is kept in a model folder) and later SimCLR runs start from it (``SimCLRSettings.pretrained``).
The base must never see a D-ETG: :func:`pretraining_exclusions` names every galaxy kept out, with a
reason, and :func:`pretraining_sample` draws the training galaxies from the rest.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from raregal.paper_b.backbone import save_trunk
from raregal.paper_b.pretrain.survey import pretraining_exclusions
from raregal.paper_b.simclr.model import SimCLRSettings, load_simclr
from raregal.paper_b.simclr.train import train_simclr

TRUNK_DIR = "trunk"  # the saved base inside a pretraining folder: SimCLRSettings.pretrained points here


def pretraining_sample(tags: pd.DataFrame, catalog: pd.DataFrame | None, n_train: int | None,
                       rng: np.random.Generator, held_out: Sequence[int] = ()) -> tuple[np.ndarray, pd.DataFrame]:
    """The base's training galaxies: ``n_train`` (all when None) drawn from the tag table's galaxies
    that are neither excluded (:func:`pretraining_exclusions`) nor in ``held_out`` (e.g. a probe set).

    Returns
    -------
    (train_ids, exclusions)
        Sorted ids, and the exclusion table (``dr7objid``, ``reason``) to report.
    """
    excluded = pretraining_exclusions(tags, catalog)
    ids = tags["dr7objid"].to_numpy(np.int64)
    pool = ids[~np.isin(ids, excluded.dr7objid) & ~np.isin(ids, np.asarray(held_out, np.int64))]
    if n_train is not None and n_train > len(pool):
        raise ValueError(f"asked for {n_train} pretraining galaxies but only {len(pool)} remain after "
                         f"{len(excluded)} exclusions and {len(held_out)} held out")
    n = len(pool) if n_train is None else n_train
    return np.sort(rng.choice(pool, n, replace=False)), excluded


def pretrain_base(images: Any, out_dir: Path | str, settings: SimCLRSettings,
                  about: dict[str, Any] | None = None, log: Callable[[str], Any] = print) -> Path:
    """Train (or resume) SimCLR on ``images`` in ``out_dir`` and save its trunk to ``out_dir/trunk``.

    ``about`` (e.g. the image count and the exclusion counts) is stored beside the trunk with the
    settings. Returns the trunk folder, the value for a later run's ``SimCLRSettings.pretrained``.
    """
    out_dir = Path(out_dir)
    history = train_simclr(images, out_dir, settings, log=log)
    record = {"settings": dataclasses.asdict(settings), "epochs_done": len(history), **(about or {})}
    return save_trunk(load_simclr(out_dir), out_dir / TRUNK_DIR, about=record)
