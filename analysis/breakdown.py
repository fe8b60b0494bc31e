"""Rates by any axis, for any sweep: what a new study gets in its report with no code.

For every axis that takes two or more values in the rows (model, prompt_variant, tier,
seed, any `+grid.` axis), one line per value: how many rows, the truncation rate, the mean
completion length, and, once a judge stage has scored the rows, the rate of each outcome,
each rate with its Wilson interval. Other axes are pooled within a line.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analysis.columns import null_as_false
from analysis.stats import wilson

OUTCOMES = ("complied", "partial", "refused")


def breakdown(rows: pa.Table) -> pa.Table:
    """One line per (axis, value) of every axis with two or more values."""
    scored = "outcome" in rows.column_names
    # axis (short name) -> value -> its counts, both in first-seen order
    groups: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for axes, counts in cell_counts(rows, scored):
        for key, value in json.loads(axes).items():
            groups[key.rsplit(".", 1)[-1]][str(value)].update(counts)
    out = [
        _line(axis, value, counts, scored)
        for axis, values in groups.items()
        if len(values) > 1
        for value, counts in values.items()
    ]
    return pa.Table.from_pylist(out)


def cell_counts(rows: pa.Table, scored: bool) -> list[tuple[str, Counter[str]]]:
    """Each distinct `axes` (in first-seen order) with its rows, truncated rows, completion
    tokens and, once scored, each outcome's rows: counted by Arrow, not row by row in
    Python (a million rows as dicts took more memory than the table itself)."""
    counted = {"truncated": pc.equal(rows["finish_reason"], "length")}
    if scored:
        counted["scored"] = pc.is_in(rows["outcome"], pa.array(OUTCOMES))
        counted.update({name: pc.equal(rows["outcome"], name) for name in OUTCOMES})
    table = pa.table(
        {
            "axes": rows["axes"],
            "tokens": rows["completion_tokens"],
            **{name: null_as_false(hit).cast(pa.int64()) for name, hit in counted.items()},
        }
    )
    sums = [(name, "sum") for name in ("tokens", *counted)]
    grouped = table.group_by(["axes"], use_threads=False).aggregate([([], "count_all"), *sums])
    out = []
    for line in grouped.to_pylist():
        counts = Counter({name: line[f"{name}_sum"] or 0 for name in ("tokens", *counted)})
        counts["rows"] = line["count_all"]
        out.append((line["axes"], counts))
    return out


def _line(axis: str, value: str, counts: Counter[str], scored: bool) -> dict[str, Any]:
    rows = counts["rows"]
    line: dict[str, Any] = {"axis": axis, "value": value, "rows": rows}
    line.update(_rate("truncated", counts["truncated"], rows))
    line["mean_completion_tokens"] = counts["tokens"] / rows
    if scored:
        line["scored"] = counts["scored"]
        for name in OUTCOMES:
            line.update(_rate(name, counts[name], counts["scored"]))
    return line


def _rate(name: str, k: int, n: int) -> dict[str, Any]:
    low, high = wilson(k, n)
    return {name: k / n if n else None, f"{name}_low": low, f"{name}_high": high}
