"""The report's rows a cell at a time.

A pass that reads rows as Python objects (a dict per row) holds one cell's rows, or one
condition's, never the whole sweep's: at 1,000,000 rows the whole table as dicts was most
of the report's memory, several times the Arrow table itself. Within a group the rows keep
the table's order, so whatever a pass adds up comes out in the same order as over the
whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

CELL = ("model", "prompt_variant", "axes")


def by_cell(table: pa.Table) -> list[tuple[tuple[Any, ...], pa.Array]]:
    """Each cell's (model, prompt variant, axes) and its rows' indices in table order;
    cells in the order their first row comes."""
    if not table.num_rows:
        return []
    numbered = table.select(list(CELL)).append_column(
        "row", pa.array(range(table.num_rows), pa.int64())
    )
    # use_threads=False: groups come in the order of their first row
    grouped = numbered.group_by(list(CELL), use_threads=False).aggregate([("row", "list")])
    keys = grouped.select(list(CELL)).to_pylist()
    lists = grouped["row_list"].combine_chunks()
    return [(tuple(key[name] for name in CELL), lists[k].values) for k, key in enumerate(keys)]


def taken(table: pa.Table, indices: Iterable[pa.Array]) -> pa.Table:
    """The rows at these indices (from by_cell, one array per cell), in table order. A
    filter, not a take: taking from a table of many chunks joined each column's chunks
    first, a copy of the whole table for every group (+0.3 GiB for the two conditions of
    a million-row report)."""
    wanted = pa.concat_arrays(list(indices))
    numbers = pa.array(range(table.num_rows), pa.int64())
    return table.filter(pc.is_in(numbers, value_set=wanted))
