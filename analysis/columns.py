"""Reading a sweep's Parquet files by their declared columns and nothing else: the engine's
core columns and the study's own (jobs/rows.py, `Study.columns`).

Before a report reads a folder, every file's footer is checked against the declared schema:
a file with a missing or a foreign column (written by another tool, an older mosweep, or a
hand edit) stops the report with one line naming the file, the column and the sweep that
wrote it, rather than a KeyError deep in a figure.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from jobs.rows import CORE
from orchestrator.store import shard_paths


class ReportError(ValueError):
    """Bad input to the report: one line that says what to change."""


def read_rows(
    folder: Path,
    schema: pa.Schema = CORE,
    columns: list[str] | None = None,
    lengths: Collection[str] = (),
) -> pa.Table:
    """All rows of a results (or scores) folder, after checking each file's columns against
    `schema` (a study's: `orchestrator.studies.row_schema`); the text columns of `lengths`
    read as their lengths (`as_lengths`)."""
    files = shard_paths(folder)  # not a copy, a stray file or an unfinished write
    if not files:
        raise ReportError(f"no Parquet files under {folder}: run the sweep first")
    for path in files:
        check_columns(path, schema)
    return read_files(files, columns, lengths, schema=schema)


def read_files(
    files: list[Path], columns: list[str] | None, lengths: Collection[str] = (), **options: Any
) -> pa.Table:
    """The rows of these Parquet files, in their order, a group of files at a time, each
    group one chunk per column (`options`: pyarrow.dataset.dataset's), the text columns of
    `lengths` replaced group by group by their lengths (`as_lengths`)."""
    parts = []
    for group in _groups(files):
        dataset = ds.dataset([str(f) for f in group], format="parquet", **options)
        parts.append(as_lengths(dataset.to_table(columns=columns).combine_chunks(), lengths))
    return pa.concat_tables(parts)


# The texts are most of a read's bytes (the completions, scratchpads and answers of a
# million fake-engine rows: 194 of the report's 516 MiB; a real model's replies are
# kilobytes), while a report's per-row passes only ask whether a row has one; the few
# samples it shows are read back whole (analysis/samples.py, `with_texts`).
def as_lengths(table: pa.Table, names: Collection[str]) -> pa.Table:
    """Each text column of `names` (those the table has) as its length in characters, null
    where the text is; with `completion`, a `replied` column: whether the reply has more
    than whitespace (Python's strip(): Arrow's trim knows other whitespace)."""
    for name in names:
        if name not in table.column_names:
            continue
        if name == "completion":
            table = table.append_column("replied", replied(table[name]))
        at = table.column_names.index(name)
        table = table.set_column(at, name, pc.utf8_length(table[name]))
    return table


def replied(texts: pa.ChunkedArray, step: int = 4096) -> pa.ChunkedArray:
    """Whether each text has more than whitespace, a slice of the texts at a time."""
    return pa.chunked_array(
        [
            pa.array([bool((t or "").strip()) for t in texts.slice(at, step).to_pylist()])
            for at in range(0, len(texts), step)
        ],
        pa.bool_(),
    )


def has_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whether each row has a text in a column read as text or as its lengths (`as_lengths`):
    one character or more, false where null."""
    lengths = column if pa.types.is_integer(column.type) else pc.utf8_length(column)
    return null_as_false(pc.greater(lengths, 0))


def null_as_false(values: Any) -> Any:
    """Boolean values (a column, or a comparison over one) with null as false: a row whose
    label is missing is not counted as having it."""
    return pc.fill_null(values, False)


# Files read together and made one chunk per column. Every shard file a chunk of its own
# left the process 0.2 MB bigger per file, whatever its rows: a 100,000-row af_grid sweep
# of 2,000 files held 0.07 GiB of rows and grew 0.44 GiB (0.14 GiB read in groups of 64).
# A group's bytes stay far below the 2 GiB a chunk of a string column can hold.
GROUP_FILES = 64
GROUP_BYTES = 64 * 2**20


def _groups(files: list[Path]) -> list[list[Path]]:
    groups: list[list[Path]] = [[]]
    size = 0
    for path in files:
        if groups[-1] and (len(groups[-1]) == GROUP_FILES or size >= GROUP_BYTES):
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += path.stat().st_size
    return groups


# Read by no report section: the prompt, most of a row's bytes (an alignment-faking system
# prompt is ~5 KB), and where each row came from and how it was asked (0.2 GiB of a million
# rows' 0.69 GiB in Arrow): a report of a million rows leaves them on disk.
UNREPORTED = frozenset(
    {
        "rendered_prompt",
        *("study", "dataset", "dataset_hash", "prompt_hash", "model_path", "engine"),
        *("request_seed", "temperature", "top_p", "max_tokens"),
        *("latency_s", "started_at", "finished_at"),
    }
)


def report_columns(schema: pa.Schema) -> list[str]:
    """The columns a report reads."""
    return [name for name in schema.names if name not in UNREPORTED]


# Core columns of every row before each study declared its own columns: a file of an
# earlier run still has them, null where its study had no such label; they are left unread.
RETIRED = frozenset({"tier", "trigger"})


def check_columns(path: Path, schema: pa.Schema) -> None:
    names = pq.read_schema(path).names
    foreign = [n for n in names if n not in schema.names and n not in RETIRED]
    missing = [n for n in schema.names if n not in names]
    if not foreign and not missing:
        return
    sweep = _written_by(path, names)
    if foreign:
        problem = f"has column '{foreign[0]}', which is not a declared results column"
    else:
        problem = f"lacks the declared column '{missing[0]}'"
    raise ReportError(
        f"{path} {problem} (file written by sweep {sweep}): move the file out of "
        f"{path.parent.parent} or re-run that sweep with this version of mosweep"
    )


def _written_by(path: Path, names: list[str]) -> str:
    if "sweep" not in names:
        return "unknown: the file has no 'sweep' column"
    first = pq.ParquetFile(path).read_row_group(0, columns=["sweep"])["sweep"]
    return repr(first[0].as_py()) if len(first) else "unknown: the file has no rows"


# Written by the driver at every run: the ids of the current grid's cells (for a staged
# study, of its evaluations). A folder keeps the rows of earlier grids of the same sweep
# (another dataset limit, another setting): they are listed, never pooled with these.
GRID_FILE = "grid.json"


def current_grid(sweep_dir: Path) -> set[str] | None:
    """The current grid's cell ids, or None for a folder written before grid.json existed."""
    path = sweep_dir / GRID_FILE
    if not path.is_file():
        return None
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        if not isinstance(cells, list) or not all(isinstance(c, str) for c in cells):
            raise TypeError("cells is not a list of ids")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise ReportError(
            f"{path} is not the grid file mosweep writes ({type(e).__name__}): re-run the "
            "sweep's command to write it again (no shard runs twice), or delete it to report "
            "the rows of every grid together"
        ) from None
    return set(cells)


def split_grid(rows: pa.Table, current: set[str] | None) -> tuple[pa.Table, pa.Table | None]:
    """(this grid's rows, a per-cell count of the rows of earlier grids, or None)."""
    if current is None:
        return rows, None
    mine = pc.is_in(rows["cell_id"], pa.array(sorted(current), pa.string()))
    earlier = rows.filter(pc.invert(mine))
    if not earlier.num_rows:
        return rows, None
    keys = ["cell_id", "model", "stage", "prompt_variant", "axes"]
    counted = earlier.select(keys).group_by(keys).aggregate([("cell_id", "count")])
    listing = counted.rename_columns([*keys, "rows"]).sort_by("cell_id")
    return rows.filter(mine), listing
