"""Rates by any axis, for any sweep: what a new study gets in its report with no code.

For every axis that takes two or more values in the rows (model, prompt_variant, tier,
seed, any `+grid.` axis), one line per value: how many rows, the truncation rate, the mean
completion length, and, once a judge stage has scored the rows, the rate of each outcome,
each rate with its Wilson interval. Other axes are pooled within a line.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pyarrow as pa

from analysis.stats import wilson

OUTCOMES = ("complied", "partial", "refused")


def breakdown(rows: pa.Table) -> pa.Table:
    """One line per (axis, value) of every axis with two or more values."""
    scored = "outcome" in rows.column_names
    columns = ["axes", "finish_reason", "completion_tokens"] + (["outcome"] if scored else [])
    records = rows.select(columns).to_pylist()
    # axis (short name) -> value -> its rows, both in first-seen order
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        for key, value in json.loads(record["axes"]).items():
            groups[key.rsplit(".", 1)[-1]][str(value)].append(record)
    out = [
        _line(axis, value, group, scored)
        for axis, values in groups.items()
        if len(values) > 1
        for value, group in values.items()
    ]
    return pa.Table.from_pylist(out)


def _line(axis: str, value: str, group: list[dict[str, Any]], scored: bool) -> dict[str, Any]:
    line: dict[str, Any] = {"axis": axis, "value": value, "rows": len(group)}
    line.update(_rate("truncated", sum(r["finish_reason"] == "length" for r in group), group))
    line["mean_completion_tokens"] = sum(r["completion_tokens"] for r in group) / len(group)
    if scored:
        judged = [r for r in group if r["outcome"] in OUTCOMES]
        line["scored"] = len(judged)
        for name in OUTCOMES:
            line.update(_rate(name, sum(r["outcome"] == name for r in judged), judged))
    return line


def _rate(name: str, k: int, among: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(among)
    low, high = wilson(k, n)
    return {name: k / n if n else None, f"{name}_low": low, f"{name}_high": high}
