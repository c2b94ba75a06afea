"""The dust-lane early-type galaxy (D-ETG) task of Ma et al. (2025) §4.3 and Appendix D.

Modules, one concern each:

- ``table3``: Table 3 — known D-ETGs against random galaxies at 1 : 100, baseline vs focal vs
  augmented with synthetic D-ETGs (:func:`run_table3`, :func:`table3_summary`).
- ``synthetic``: the synthetic D-ETGs (weighted prompts of Fig. 7, started from real early types).
- ``search``: the iterative search (:func:`run_search` with :class:`SearchSettings`): train on
  synthetic D-ETGs + random galaxies, score the whole catalog, vet the candidates
  (:mod:`raregal.paper_b.vetting`, ≥ 2 of 3 reviewers), retrain, repeat; its report and, on the
  mock, its purity and completeness against the truth.
- ``samples``: the figures' data — a control ETG sample matched in z and M*, CDFs with 1σ
  bootstrap bands, KDEs.
- ``plots``: the plots of Figs 6–9 and D4.

The names below are the package's public interface (notebook 12 uses them).
"""
from raregal.paper_b.detg.plots import (
    SAMPLE_COLOURS,
    image_rows,
    plot_cdf_panels,
    plot_kdes,
    say_what_is_missing,
)
from raregal.paper_b.detg.samples import (
    bootstrap_cdf,
    catalog_rows,
    comparison_samples,
    kde,
    matched_control,
)
from raregal.paper_b.detg.search import (
    CATALOG_COLUMNS,
    SearchSettings,
    Survey,
    make_reviewers,
    run_search,
    scaled_search_negatives,
    score_against_truth,
    search_table,
    search_with_vetting,
)
from raregal.paper_b.detg.synthetic import (
    DETG_PROMPTS,
    ETG_TAGS,
    clean_etgs,
    profile_setting,
    synthetic_detgs,
)
from raregal.paper_b.detg.table3 import (
    NO_KNOWN_LIST,
    TABLE3_RATIO,
    clean_negatives,
    few_known_summary,
    run_table3,
    run_table3_few_known,
    table3_split,
    table3_summary,
    with_f1_gain,
)

__all__ = ["CATALOG_COLUMNS", "DETG_PROMPTS", "ETG_TAGS", "NO_KNOWN_LIST", "SAMPLE_COLOURS",
           "TABLE3_RATIO", "SearchSettings", "Survey", "bootstrap_cdf", "catalog_rows", "clean_etgs",
           "clean_negatives", "comparison_samples", "few_known_summary", "image_rows", "kde",
           "make_reviewers", "matched_control", "plot_cdf_panels", "plot_kdes", "profile_setting",
           "run_search", "run_table3", "run_table3_few_known", "say_what_is_missing",
           "scaled_search_negatives", "score_against_truth", "search_table", "search_with_vetting",
           "synthetic_detgs", "table3_split", "table3_summary", "with_f1_gain"]
