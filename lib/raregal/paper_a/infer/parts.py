"""The output folder of a survey run: one catalog part and one drops part per shard, written atomically.

Layout under ``out``::

    catalog/part-<shard>.parquet   the galaxies of one shard (pandas/pyarrow/Dask read the folder)
    drops/part-<shard>.parquet     shard, id, reason, detail of every galaxy the shard lost
    drops.parquet                  all drops of the run (rebuilt at the end of every run)
    summary.json                   counts, drops per reason, galaxies/s, bundle fingerprint

Why per-shard parts: a worker writes its own results (nothing large travels back through the
client), and a part is the unit of resume. The drops part is written first and the catalog part
last; the catalog part carries key-value metadata (shard, bundle fingerprint, rows written, rows
dropped), so :func:`part_is_valid` can tell a finished shard from a missing, truncated or foreign one
without reading its rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from raregal.core.outputs import atomic_path

META_KEY = b"raregal.infer"
DROP_COLUMNS = ("shard", "id", "reason", "detail")


def catalog_part(out: Path, shard: str) -> Path:
    return Path(out) / "catalog" / f"part-{shard}.parquet"


def drops_part(out: Path, shard: str) -> Path:
    return Path(out) / "drops" / f"part-{shard}.parquet"


def drops_frame(drops) -> pd.DataFrame:
    frame = pd.DataFrame([(d.shard, d.id, d.reason, d.detail) for d in drops], columns=list(DROP_COLUMNS))
    return frame.astype({"shard": str, "id": "Int64", "reason": str, "detail": str})


def write_shard(out: Path, shard, frame: pd.DataFrame, drops, fingerprint: str) -> dict:
    """Write the drops part, then the catalog part with its metadata; returns the metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dframe = drops_frame(drops)
    with atomic_path(drops_part(out, shard.name)) as tmp:
        dframe.to_parquet(tmp, index=False)
    meta = {"shard": shard.name, "fingerprint": fingerprint, "n_rows": len(frame), "n_dropped": len(dframe),
            "n_expected": shard.n_expected}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    with atomic_path(catalog_part(out, shard.name)) as tmp:
        pq.write_table(table, tmp)
    return meta


def part_is_valid(out: Path, shard, fingerprint: str) -> bool:
    """True when both parts of ``shard`` exist, read, belong to this bundle and add up."""
    import pyarrow.parquet as pq

    path, dpath = catalog_part(out, shard.name), drops_part(out, shard.name)
    if not (path.is_file() and dpath.is_file()):
        return False
    try:
        md = pq.read_metadata(path)
        meta = json.loads((md.metadata or {})[META_KEY])
        n_drops = pq.read_metadata(dpath).num_rows
    except Exception:  # truncated, foreign or without our metadata: redo the shard
        return False
    counts_ok = meta.get("n_rows") == md.num_rows and meta.get("n_dropped") == n_drops
    expected = shard.n_expected
    adds_up = expected is None or meta.get("n_expected") is None or md.num_rows + n_drops >= expected
    return bool(meta.get("shard") == shard.name and meta.get("fingerprint") == fingerprint and counts_ok
                and adds_up)


def collect_drops(out: Path, shard_names, extra=()) -> pd.DataFrame:
    """All drops of the run's shards (plus drops found while listing or fetching), as one table."""
    frames = [pd.read_parquet(drops_part(out, s)) for s in shard_names if drops_part(out, s).is_file()]
    frames.append(drops_frame(extra))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else drops_frame([])


def write_table(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_json(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, default=str))
