"""Local data files as lists of records, by format (JSONL, CSV, Parquet): the readers that
the dataset sources (local files, built-in files, Hugging Face downloads) share."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import UserError

Reader = Callable[[Path], list[dict[str, object]]]


def read_jsonl(path: Path) -> list[dict[str, object]]:
    records = []
    # Lines end at "\n" only: str.splitlines() would also split at a raw U+2028 or U+2029,
    # which JSON allows inside a string.
    for number, line in enumerate(_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{number} is not valid JSON ({e.msg}): fix that line") from None
        if not isinstance(record, dict):
            kind = "null" if record is None else type(record).__name__
            raise UserError(
                f"{path}:{number} is a JSON {kind}, not an object: write one object per line, "
                'e.g. {"id": "a", "prompt": "..."}'
            )
        records.append(record)
    return records


def _text(path: Path, encoding: str = "utf-8") -> str:
    """A data file's text, or one line naming the first byte that is not UTF-8."""
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path} is not valid UTF-8 (byte {e.start} of the file): save it as UTF-8"
        ) from None


def _read_csv(path: Path) -> list[dict[str, object]]:
    # utf-8-sig: a byte-order mark (spreadsheet exports) is not part of the first column's name
    return list(csv.DictReader(io.StringIO(_text(path, "utf-8-sig"), newline="")))


def _read_parquet(path: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    records: list[dict[str, object]] = pq.read_table(path).to_pylist()
    return records


READERS: dict[str, Reader] = {"jsonl": read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
