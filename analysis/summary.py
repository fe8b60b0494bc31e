"""Per-cell summary of a results folder: rows, mean completion tokens, truncation rate."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

COLUMNS = ["cell_id", "model", "prompt_variant", "axes", "completion_tokens", "finish_reason"]


def read_results(
    results: Path, columns: list[str] | None = None, lengths: Collection[str] = ()
) -> pa.Table:
    """All rows of the shard files under a results folder (hive-partitioned by model):
    other files there are not read (orchestrator.store.shard_paths); the text columns of
    `lengths` read as their lengths (analysis.columns.as_lengths)."""
    from analysis.columns import read_files
    from orchestrator.store import shard_paths

    # The partition's type is stated: groups of files read apart must agree on it.
    hive = ds.partitioning(pa.schema([("model", pa.string())]), flavor="hive")
    return read_files(
        shard_paths(results), columns, lengths, partitioning=hive, partition_base_dir=str(results)
    )


def cell_summary(table: pa.Table) -> pa.Table:
    """One row per cell, sorted by model, variant and axes."""
    truncated = pc.equal(table["finish_reason"], "length").cast(pa.float64())
    keyed = table.select([*COLUMNS[:4], "completion_tokens"]).append_column("truncated", truncated)
    grouped = keyed.group_by(COLUMNS[:4]).aggregate(
        [("completion_tokens", "count"), ("completion_tokens", "mean"), ("truncated", "mean")]
    )
    renamed = grouped.rename_columns(
        [*COLUMNS[:4], "rows", "mean_completion_tokens", "truncation_rate"]
    )
    compact = pa.array([compact_axes(a) for a in renamed["axes"].to_pylist()], pa.string())
    renamed = renamed.set_column(3, "axes", compact)
    return renamed.sort_by(
        [("model", "ascending"), ("prompt_variant", "ascending"), ("axes", "ascending")]
    )


def compact_axes(axes_json: str) -> str:
    """`seed=1 audience=expert` from the axes JSON, leaving out axes shown as columns."""
    axes = json.loads(axes_json)
    shown = ("model", "prompt_variant")
    return " ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in axes.items() if k not in shown)


def format_table(table: pa.Table) -> str:
    """A plain-text table with aligned columns (floats to 2 places)."""
    names = table.column_names
    cells = [[_fmt(v) for v in row.values()] for row in table.to_pylist()]
    widths = [
        max(len(n), *(len(r[i]) for r in cells)) if cells else len(n) for i, n in enumerate(names)
    ]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
