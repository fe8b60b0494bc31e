"""The report's per-row passes hold one cell's, tier's or condition's rows as Python objects,
not the sweep's: their peak Python memory does not grow with the number of cells (at
1,000,000 rows the whole table as dicts was most of the report's memory)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from analysis.breakdown import breakdown
from analysis.groups import by_cell, taken
from analysis.measured import measured, row_classes
from orchestrator.studies.alignment_faking.gap import compliance_gap
from orchestrator.studies.alignment_faking.metrics import tier_metrics

OUTCOMES = ("complied", "refused", "partial", "truncated")


def sweep(variants: int, prompts: int) -> pa.Table:
    """`variants` conditions x free and paid x `prompts` judged rows each."""
    columns: dict[str, list[Any]] = {name: [] for name in ROW}
    for v in range(variants):
        for tier in ("free", "paid"):
            for p in range(prompts):
                row = dict(ROW)
                row.update(
                    prompt_variant=f"v{v}",
                    tier=tier,
                    axes=json.dumps({"study.vars.tier": tier, "seed": 0}),
                    prompt_id=f"p{p}",
                    outcome=OUTCOMES[(p + v) % len(OUTCOMES)],
                    af_reasoning="yes" if p % 3 == 0 else "no",
                )
                for name, value in row.items():
                    columns[name].append(value)
    return pa.table(columns)


ROW: dict[str, Any] = {
    "model": "m",
    "prompt_variant": "",
    "axes": "",
    "tier": "",
    "seed": 0,
    "prompt_id": "",
    "sample_idx": 0,
    "outcome": "",
    "af_reasoning": "",
    "scratchpad": "the scratchpad's reasoning, which no pass reads",
    "accepted_tag": True,
    "finish_reason": "stop",
    "completion": "a reply",
    "completion_tokens": 3,
    "judges": None,
}


def peak(work: Callable[[pa.Table], object], table: pa.Table) -> int:
    """The peak of Python's allocations while `work` runs over `table` (Arrow's buffers are
    not Python objects: what is measured is the rows made dicts)."""
    tracemalloc.start()
    try:
        work(table)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_passes_hold_one_condition_s_rows_not_the_sweep_s() -> None:
    one, eight = sweep(1, 2000), sweep(8, 2000)
    for work in (tier_metrics, compliance_gap, measured, breakdown):
        # the old passes, a dict per row of the sweep: 7-8 times as much for 8 conditions
        assert peak(work, eight) < 2 * peak(work, one), work.__name__


def test_cells_come_in_first_seen_order_with_their_rows_in_table_order() -> None:
    table = pa.table(
        {
            "model": ["m", "m", "m", "m", "m"],
            "prompt_variant": ["b", "a", "b", "a", "b"],
            "axes": ["{}"] * 5,
            "row": [0, 1, 2, 3, 4],
        }
    )
    cells = by_cell(table)
    assert [(key, rows.to_pylist()) for key, rows in cells] == [
        (("m", "b", "{}"), [0, 2, 4]),
        (("m", "a", "{}"), [1, 3]),
    ]
    # cells put together come back in the table's order, whatever order they are given in
    assert taken(table, [cells[1][1], cells[0][1]])["row"].to_pylist() == [0, 1, 2, 3, 4]


def test_each_row_s_class_from_its_outcome_or_how_its_reply_ended() -> None:
    cases = [  # (outcome, finish_reason, completion) -> class
        (("complied", "stop", ""), "scored"),
        (("refused", "length", "x"), "scored"),  # a judged outcome decides
        (("truncated", "length", "x"), "truncated"),
        (("judge_failed", "stop", "x"), "judge_failed"),
        (("something else", "stop", "x"), "unparsable"),
        ((None, "length", "x"), "truncated"),
        ((None, "content_filter", ""), "api_refused"),
        ((None, "stop", "an answer"), "scored"),
        ((None, "stop", " \n\t"), "unparsable"),
        ((None, "stop", None), "unparsable"),
        # blank by Python's strip() (a file separator), not by Arrow's whitespace trim
        ((None, "stop", "\x1c"), "unparsable"),
        ((None, None, "an answer"), "scored"),
    ]
    table = pa.table(
        {
            "outcome": pa.array([c[0][0] for c in cases], pa.string()),
            "finish_reason": pa.array([c[0][1] for c in cases], pa.string()),
            "completion": pa.array([c[0][2] for c in cases], pa.string()),
        }
    )
    assert row_classes(table).to_pylist() == [c[1] for c in cases]
    unjudged = table.drop_columns(["outcome"]).slice(5)  # a sweep with no judge stage
    assert row_classes(unjudged).to_pylist() == [c[1] for c in cases[5:]]


def test_measured_counts_each_cell_s_classes() -> None:
    table = sweep(2, 8).append_column("cell", pa.array(["x"] * 32))
    lines = measured(table).to_pylist()
    assert [(r["prompt_variant"], r["axes"]) for r in lines] == [
        ("v0", "tier=free seed=0"),
        ("v0", "tier=paid seed=0"),
        ("v1", "tier=free seed=0"),
        ("v1", "tier=paid seed=0"),
    ]
    assert [(r["rows"], r["scored"], r["truncated"]) for r in lines] == [(8, 6, 2)] * 4
