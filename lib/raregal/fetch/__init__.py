"""Real data (``source="real"``): Legacy Surveys cutouts, user catalogs, GZ2 and model weights.

Submodules: ``http`` (polite retrying downloads), ``legacy_survey`` (paper A cutouts →
``prepare_survey_a``), ``catalogs`` (paper A catalogs → one schema), ``gz2`` (paper B →
``prepare_gz2``), ``models`` (``pretrained`` → weights). ``python -m raregal.fetch --help`` is the
data-only command line. Only this package touches the network.
"""
