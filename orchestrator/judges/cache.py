"""Every LLM judge answer this sweep has received, keyed by a hash of (judge, prompt, output).

The key hashes the judge's identity (model, template text, votes, temperature, seed) and the
rendered judge prompt, which holds the request and the judged output: any change to one of
them is a miss, and nothing else is. Answers are appended as small Parquet part files after
each batch, atomically, so a crash mid-stage keeps every batch already answered.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jobs import durable
from orchestrator.store import whole_parquet

CACHE_SCHEMA = pa.schema([("key", pa.string()), ("answers", pa.list_(pa.string()))])


class JudgeCache:
    def __init__(self, folder: Path, quarantine: Callable[[Path, str], object]) -> None:
        """`quarantine` sets aside a part file that is not whole (its answers are asked
        again); ResultStore.quarantine in a sweep."""
        self.folder = folder
        self.answers: dict[str, list[str]] = {}
        for part in sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []:
            if not whole_parquet(part):
                quarantine(part, "is not a whole Parquet file")
                continue
            try:  # page checksums: a flipped byte in a part's answers fails here
                table = pq.read_table(part, page_checksum_verification=True)
                found = table.select(["key", "answers"]).to_pylist()
            except (pa.ArrowException, OSError, KeyError) as e:
                quarantine(part, f"cannot be read ({type(e).__name__})")
                continue
            self.answers.update((row["key"], row["answers"]) for row in found)

    def __contains__(self, key: str) -> bool:
        return key in self.answers

    def get(self, key: str) -> list[str]:
        return self.answers.get(key, [])

    def add(self, answers: dict[str, list[str]]) -> None:
        if not answers:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:6]}.parquet"
        table = pa.table(
            {"key": list(answers), "answers": list(answers.values())}, schema=CACHE_SCHEMA
        )
        durable.write_file(
            self.folder / name, lambda path: pq.write_table(table, path, write_page_checksum=True)
        )
        self.answers.update(answers)
