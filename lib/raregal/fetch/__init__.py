"""Real data (``source="real"``): Legacy Surveys cutouts, catalogs, GZ2 and model weights.

Submodules: ``http`` (polite retrying downloads), ``legacy_survey`` (paper A cutouts →
``prepare_survey_a``), ``catalogs`` (paper A catalogs → one schema; units in ``catalog_units``),
``remote_catalogs`` (the catalogs with an address, downloaded and checked: ``gama``, ``gswlc``,
``vizier`` for Zou et al. 2022), ``gz2`` (paper B → ``prepare_gz2``), ``models`` (``pretrained`` →
weights). ``python -m raregal.fetch --help`` is the
data-only command line. Only this package touches the network.
"""
