"""The per-cell summary computes rows, mean tokens and truncation from known rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.__main__ import main
from analysis.summary import cell_summary, compact_axes, format_table, read_results
from tests.analysis.declared import PROMPTED, declared


def rows(cell: str, variant: str, tokens: list[int], reasons: list[str]) -> list[dict[str, Any]]:
    axes = json.dumps({"prompt_variant": variant, "seed": 0, "study.vars.tier": "free"})
    return [
        {
            "cell_id": cell,
            "model": "m",
            "prompt_variant": variant,
            "axes": axes,
            "prompt_id": f"p{i}",
            "completion_tokens": t,
            "finish_reason": r,
        }
        for i, (t, r) in enumerate(zip(tokens, reasons, strict=True))
    ]


def fixture(folder: Path) -> Path:
    results = folder / "results" / "model=m"
    results.mkdir(parents=True)
    table_a = declared(
        rows("aaaaaaaaaaaa", "plain", [10, 20, 30], ["stop", "length", "stop"]), PROMPTED
    )
    table_b = declared(rows("bbbbbbbbbbbb", "terse", [5, 5], ["length", "length"]), PROMPTED)
    pq.write_table(table_a, results / "aaaaaaaaaaaa_000000-000003.parquet")
    pq.write_table(table_b, results / "bbbbbbbbbbbb_000000-000002.parquet")
    return folder


def test_summary_numbers(tmp_path: Path) -> None:
    summary = cell_summary(read_results(fixture(tmp_path) / "results")).to_pylist()
    assert [
        (r["cell_id"], r["rows"], r["mean_completion_tokens"], r["truncation_rate"])
        for r in summary
    ] == [
        ("aaaaaaaaaaaa", 3, 20.0, 1 / 3),
        ("bbbbbbbbbbbb", 2, 5.0, 1.0),
    ]
    assert summary[0]["axes"] == "seed=0 tier=free"


def test_compact_axes_leaves_out_columns() -> None:
    assert compact_axes('{"model": "m", "prompt_variant": "p", "seed": 1}') == "seed=1"


def test_format_table_aligns_and_rounds() -> None:
    text = format_table(
        pa.Table.from_pylist([{"a": "x", "rate": 1 / 3}, {"a": "longer", "rate": 1.0}])
    )
    lines = text.splitlines()
    assert lines[0].split() == ["a", "rate"] and "0.33" in lines[2] and "1.00" in lines[3]
    assert len({len(line.rstrip()) for line in lines[:2]}) == 1


def test_cli_prints_table_and_refuses_missing_folder(tmp_path: Path, capsys: object) -> None:
    assert main([str(fixture(tmp_path))]) == 0
    assert main([str(tmp_path / "nope")]) == 2
