"""A report table written twice: CSV for tools, Markdown for reading (floats to 3 places)."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa


def write_table(table: pa.Table, stem: Path) -> None:
    with stem.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.column_names)
        writer.writerows(list(row.values()) for row in table.to_pylist())
    stem.with_suffix(".md").write_text(markdown(table))


def markdown(table: pa.Table) -> str:
    names = table.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in table.to_pylist():
        lines.append("| " + " | ".join(cell(v) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "" if value is None else str(value)
