"""Survey-scale inference for paper A (Gagliano & Villar 2023): a trained CVAE pointed at a survey.

- :mod:`.bundle` — the model bundle (checkpoint + preprocessing constants + calibrations + SVM);
  :mod:`.from_run` builds one from a run of the notebooks (04: calibration + intervals, 05: SVM and
  the bundle itself), or refits every part from a run of 02-03.
- :mod:`.coverage` — notebook 04's ``A-table-intervals`` (coverage and width beside a baseline);
  :mod:`.heldout` — the fresh mock galaxies the intervals are calibrated and scored on.
- :mod:`.scale` — notebook 06's ``A-table-scale`` and ``benchmarks/infer.py`` (galaxies/s, CPU-hours).
- :mod:`.shards` — the survey as shards (HDF5, Zarr, FITS folder) and their readers.
- :mod:`.steps`, :mod:`.catalog` — what happens to each cutout (the notebooks' own functions).
- :mod:`.calibration`, :mod:`.intervals` — latents → z, log M*, log SFR with 68 %/95 % intervals.
- :mod:`.engine`, :mod:`.parts` — Dask.distributed, one task per shard, resumable Parquet parts.
- :mod:`.cli` — ``python -m raregal.infer``.

Submodules are imported where used (this file imports none), so ``import raregal.paper_a.infer.X``
stays cheap and the package has no internal import cycle.
"""
