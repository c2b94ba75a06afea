"""Hand-made rows in the Hart et al. (2016) GZ2 column schema, for the schema and label tests.

A row lists only the answered tasks; the rest get zero votes, as a galaxy nobody asked about would.
"""
import pandas as pd

from raregal.core import gz2_schema


def galaxy(dr7objid, n=40, **answers):
    """One Hart16 row: ``answers`` maps 'tNN_aMM' → (fraction, debiased) for the answered tasks.

    Counts are round(n × fraction) so an answer's votes follow its fraction; unanswered tasks get zero
    votes.
    """
    row = {"dr7objid": dr7objid, "ra": 150.0, "dec": 2.0, "total_classifications": n,
           "total_votes": 0, "gz2_class": "x"}
    for stem in gz2_schema.TREE.stem:
        for kind in gz2_schema.COUNT_KINDS:
            row[gz2_schema.column(stem, kind)] = 0
    for key, (frac, deb) in answers.items():
        task, ans = key.split("_")
        stem = gz2_schema.stem_of(task, ans)
        row[gz2_schema.column(stem, "count")] = int(round(frac * n))
        row[gz2_schema.column(stem, "fraction")] = frac
        row[gz2_schema.column(stem, "weighted_fraction")] = frac
        row[gz2_schema.column(stem, "debiased")] = deb
    return row


def catalog(rows, folder):
    """Write the rows as gz2_hart16.csv.gz and read them back the way the pipeline does."""
    pd.DataFrame(rows).to_csv(folder / gz2_schema.CATALOG_FILE, index=False)
    return gz2_schema.read_catalog(folder)


# A face-on barred disk: features (0.9) → not edge-on (0.9) → bar (0.85), all well above the thresholds.
BARRED = dict(t01_a02=(0.9, 0.9), t01_a01=(0.1, 0.1), t02_a05=(0.9, 0.9), t02_a04=(0.1, 0.1),
              t03_a06=(0.85, 0.85), t03_a07=(0.15, 0.15))
