"""The model bundle: everything a survey run needs to reproduce paper A's galaxies-to-catalog path.

A trained CVAE alone cannot be pointed at a survey: its input must be made exactly as in training
(eq. 1 with the *training* ⟨max⟩ per band and β, the resize, the orientation recipe), and its latents
only become a catalog with the latent → value calibration, the interval calibration and the
anomaly SVM. A bundle folder holds them side by side:

========================  ====================================================================
``model.pt``              the physics CVAE checkpoint (:func:`raregal.paper_a.cvae.load_model`)
``preprocess.json``       bands, ``band_max_mean`` (eq. 1 ⟨max⟩ per band, nanomaggies), ``beta``,
                          ``raw_size`` (input cutout px), ``size`` (CVAE input px),
                          ``orientation_method`` (fast | photutils)
``calibration.json``      latents → z, log M*, log SFR (:mod:`.calibration`)
``intervals.json``        68 % / 95 % interval calibration and its measured coverage (:mod:`.intervals`)
``svm.joblib``            notebook 05's SMOTE + scaler + RBF SVM on the five latents, with Platt
                          probabilities (a pickle: load only bundles you made or trust)
``bundle.json``           sha256 of each file, the bundle fingerprint, where it came from
========================  ====================================================================

``bundle.json`` is written last, so a folder without it is an unfinished bundle.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from raregal.core.outputs import atomic_path
from raregal.paper_a.infer import steps
from raregal.paper_a.infer.calibration import PropertyCalibration
from raregal.paper_a.infer.intervals import IntervalCalibration

FILES = {
    "model.pt": "the CVAE checkpoint",
    "preprocess.json": "the preprocessing constants (eq. 1 ⟨max⟩ per band, β, sizes, orientation method)",
    "calibration.json": "the latent → z / log M* / log SFR calibration",
    "intervals.json": "the 68 %/95 % interval calibration",
    "svm.joblib": "the Green Pea / Red Spiral SVM",
    "bundle.json": "the bundle manifest (written last: without it the bundle is unfinished)",
}
PREPROCESS_KEYS = ("bands", "band_max_mean", "beta", "raw_size", "size", "orientation_method")
MAKE_HINT = ("notebook 05_anomalies writes one (data/models/<source>-<profile>/cvae/bundle); or make one with "
             "raregal.paper_a.infer.from_run.bundle_from_run(cfg) after notebooks 02-03, or save_bundle(...)")


class BundleError(ValueError):
    """A model bundle folder is missing, incomplete or inconsistent (the message says what)."""


@dataclass
class Bundle:
    folder: Path
    model: Any
    preprocess: dict
    calibration: PropertyCalibration
    intervals: IntervalCalibration
    svm: Any
    manifest: dict = field(default_factory=dict)
    _encoder: Any = None

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def band_max_mean(self) -> np.ndarray:
        return np.asarray(self.preprocess["band_max_mean"], np.float32)

    @property
    def encoder(self):
        """The folded encoder (built once per process)."""
        if self._encoder is None:
            self._encoder = steps.fast_encoder(self.model)
        return self._encoder


def check_preprocess(pre: dict, where: str = "preprocess.json") -> dict:
    """The preprocessing constants, checked: every key present, ⟨max⟩ positive, one per band."""
    missing = [k for k in PREPROCESS_KEYS if k not in pre]
    if missing:
        raise BundleError(f"{where} lacks {missing}: without them the survey cutouts cannot be "
                          f"normalised as the model's training cutouts were (eq. 1); {MAKE_HINT}")
    m = np.asarray(pre["band_max_mean"], float)
    if m.shape != (len(pre["bands"]),) or not np.all(m > 0):
        raise BundleError(f"{where}: band_max_mean must be one positive value per band {pre['bands']}, "
                          f"got {pre['band_max_mean']}")
    if pre["orientation_method"] not in steps.ORIENTATION_METHODS:
        raise BundleError(f"{where}: orientation_method must be one of {steps.ORIENTATION_METHODS}, "
                          f"got {pre['orientation_method']!r}")
    return pre


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def save_bundle(folder: Path | str, checkpoint: Path | str, preprocess: dict,
                calibration: PropertyCalibration, intervals: IntervalCalibration, svm,
                source: dict | None = None) -> Path:
    """Write a bundle folder (each file atomically, the manifest last); returns the folder.

    ``preprocess``: the keys of :data:`PREPROCESS_KEYS` (``band_max_mean`` in nanomaggies, one per
    band, as ``norm.json`` of 02_preprocess); ``svm``: a fitted classifier with ``predict_proba``;
    ``source``: free-form provenance (profile, source, seed, commit).
    """
    import joblib

    folder = Path(folder)
    check_preprocess(preprocess, "preprocess")
    if not hasattr(svm, "predict_proba"):
        raise BundleError("the SVM must give probabilities (SVC(probability=True))")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bundle.json").unlink(missing_ok=True)  # unfinished until the manifest is rewritten
    with atomic_path(folder / "model.pt") as tmp:
        shutil.copyfile(checkpoint, tmp)
    steps.load_model(folder / "model.pt")  # refuse a checkpoint that is not a raregal CVAE
    _write_json(folder / "preprocess.json", {k: preprocess[k] for k in PREPROCESS_KEYS})
    _write_json(folder / "calibration.json", calibration.to_dict())
    _write_json(folder / "intervals.json", intervals.to_dict())
    with atomic_path(folder / "svm.joblib") as tmp:
        joblib.dump(svm, tmp)
    sums = {name: _sha256(folder / name) for name in FILES if name != "bundle.json"}
    fingerprint = hashlib.sha256("".join(sums[k] for k in sorted(sums)).encode()).hexdigest()[:16]
    _write_json(folder / "bundle.json", {"format": 1, "fingerprint": fingerprint, "sha256": sums,
                                         "source": source or {}})
    return folder


def load_bundle(folder: Path | str, verify: bool = True) -> Bundle:
    """Load a bundle; a missing folder/file/key or a changed file is a :class:`BundleError` naming it."""
    import joblib

    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"model bundle {folder} does not exist; {MAKE_HINT}")
    missing = [f"{name} ({what})" for name, what in FILES.items() if not (folder / name).is_file()]
    if missing:
        raise BundleError(f"model bundle {folder} lacks " + "; ".join(missing) + f". {MAKE_HINT}")
    manifest = json.loads((folder / "bundle.json").read_text())
    if verify:
        changed = [n for n, s in manifest.get("sha256", {}).items() if _sha256(folder / n) != s]
        if changed:
            raise BundleError(f"model bundle {folder}: {changed} changed since the bundle was saved "
                              "(checksums differ); rebuild it with save_bundle")
    pre = check_preprocess(json.loads((folder / "preprocess.json").read_text()),
                           str(folder / "preprocess.json"))
    try:
        calibration = PropertyCalibration.from_dict(json.loads((folder / "calibration.json").read_text()))
        intervals = IntervalCalibration.from_dict(json.loads((folder / "intervals.json").read_text()))
    except (KeyError, ValueError) as err:
        raise BundleError(f"model bundle {folder}: unreadable calibration ({err})") from None
    model, _ = steps.load_model(folder / "model.pt")
    if model.arch.image_size != int(pre["size"]):
        raise BundleError(f"model bundle {folder}: the CVAE takes {model.arch.image_size} px images but "
                          f"preprocess.json says size {pre['size']}")
    return Bundle(folder, model, pre, calibration, intervals, joblib.load(folder / "svm.joblib"), manifest)
