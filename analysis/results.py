"""The results API: a sweep folder's rows as one Arrow table, the way the report reads them.

    import mosweep
    rows = mosweep.load("runs/af_grid")          # or "s3://bucket/runs/af_grid"
    df = rows.to_pandas()                        # or polars.from_arrow(rows)

Rows are those of the current grid (`grid.json`: the rows of an earlier grid left in the
folder are not pooled), from `scores/` once a judge stage has scored them, else from
`results/`; every file is checked against the study's declared columns first, as the
report does. Each axis of the grid is a column of its own, named by its key
(`study.vars.tier`, `sampling.temperature`, a `+grid.` axis) and typed from its values;
an axis the core columns already hold under its own name (`model`, `prompt_variant`,
`seed`) is not repeated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from analysis.columns import ReportError, current_grid, read_rows, split_grid
from orchestrator.studies import get_study, row_schema


def load(source: str | Path, columns: list[str] | None = None) -> pa.Table:
    """The current grid's rows of the sweep folder `source` (a path, or an object store's
    URI such as s3://bucket/runs/af_grid), with its axes as columns. `columns`: read only
    these (an axis column needs `axes`, which is then added)."""
    folder = _local(str(source))
    if not (folder / "results").is_dir():
        raise ReportError(f"no results folder at {folder / 'results'}: run the sweep first")
    from analysis.report import study_name

    study = get_study(study_name(folder))
    name = study.report_rows(folder)
    schema = row_schema(study, name)
    # an axis asked for by name is made from `axes`, not read
    wanted = None if columns is None else sorted({*schema.names} & {*columns, "axes", "cell_id"})
    rows = read_rows(folder / name, schema, wanted)
    rows, _ = split_grid(rows, current_grid(folder))
    rows = with_axes(rows)
    if columns is not None:  # what was asked for, and every axis (the rows' condition)
        axes = [c for c in rows.column_names if c not in schema.names]
        rows = rows.select([c for c in rows.column_names if c in columns or c in axes])
    return rows


def with_axes(rows: pa.Table) -> pa.Table:
    """`rows` with one column per axis key of their `axes` JSON (null where a row's cell has
    no such axis), after the declared columns."""
    parsed: dict[str, dict[str, Any]] = {}  # one parse per distinct cell condition
    axes = rows["axes"].to_pylist()
    for text in axes:
        if text not in parsed:
            parsed[text] = json.loads(text) if text else {}
    keys = sorted({key for values in parsed.values() for key in values})
    for key in keys:
        if key in rows.column_names:
            continue  # the core column of that name holds the same value
        values = [parsed[text].get(key) for text in axes]
        rows = rows.append_column(key, _typed(values))
    return rows


def _typed(values: list[Any]) -> pa.Array:
    """Values of one axis as Arrow infers them (ints, floats, strings, booleans); an axis of
    mixed kinds (1 and "a") as strings, so one odd value never fails the load."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _local(source: str) -> Path:
    """A local folder with the sweep's rows: `source` itself, or a read-only copy of what an
    object store holds under it (only its config, grid and rows are fetched)."""
    from orchestrator.mirror import Mirror, is_remote

    if not is_remote(source):
        return Path(source.removeprefix("file://"))
    output_root, _, sweep = source.rstrip("/").rpartition("/")
    mirror = Mirror(output_root, sweep, writer=False)
    mirror.pull(("config.yaml", "grid.json", "manifest", "results/", "scores/"))
    return mirror.local
