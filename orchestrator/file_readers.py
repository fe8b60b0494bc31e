"""Local data files as lists of records, by format (JSONL, CSV, Parquet): the readers that
the dataset sources (local files, built-in files, Hugging Face downloads) share."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import UserError

Reader = Callable[[Path], list[dict[str, object]]]


def read_jsonl(path: Path) -> list[dict[str, object]]:
    records = []
    # Lines end at "\n" only: str.splitlines() would also split at a raw U+2028 or U+2029,
    # which JSON allows inside a string.
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{number} is not valid JSON ({e.msg}): fix that line") from None
    return records


def _read_csv(path: Path) -> list[dict[str, object]]:
    # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first column's name
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _read_parquet(path: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    records: list[dict[str, object]] = pq.read_table(path).to_pylist()
    return records


READERS: dict[str, Reader] = {"jsonl": read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
