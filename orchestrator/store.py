"""The results store: a hive-partitioned Parquet dataset, one file per finished shard.

Layout under `<output_root>/<sweep>/`:

    results/model=<model>/<cell_id>_<start>-<end>.parquet   rows of prompts [start, end)
    config.yaml, versions.json                              the last invocation's config
    failed_shards.json                                      shards that failed last time
    scores/model=<model>/<same name>.parquet                judged studies: rows + scores
    metrics/*.parquet                                       judged studies: metric tables
    metrics/training_curves.parquet                         loss/reward per training step

A shard file is written to a dot-prefixed temporary name, flushed to the disk and renamed
into place (jobs/durable.py), so a file with a final name is complete even after a power
loss (readers skip dot-files). A file under a final name that still cannot be read (an
earlier version's crash, a copy cut short) is moved to `quarantine/` and said once; its
shard runs again. Which prompts of a cell are
done is read from file names alone: resume planning lists folders and opens no file. The
cell id is in the file name, not a partition folder, so readers never type-infer a hex id
as a number.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs import durable
from orchestrator.errors import UserError

SHARD_FILE = re.compile(r"^([0-9a-f]{12,})_(\d{6,})-(\d{6,})\.parquet$")


def shard_name(cell_id: str, start: int, end: int) -> str:
    return f"{cell_id}_{start:06d}-{end:06d}.parquet"


class ResultStore:
    def __init__(self, sweep_dir: Path, read_only: bool = False) -> None:
        self.root = sweep_dir
        self.results = sweep_dir / "results"
        self.read_only = read_only  # mode=status, dry: say what is broken, move nothing

    def check_writable(self) -> None:
        """Fail before any job starts if results could not be saved."""
        probe = self.results / f".probe-{uuid.uuid4().hex}"
        try:
            self.results.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise UserError(
                f"cannot write results to {self.results} ({e.strerror}): "
                "set output_root to a writable folder"
            ) from None

    def done_ranges(self) -> dict[str, list[tuple[int, int]]]:
        """Prompt index ranges already written, per cell id; a shard file that is not a whole
        Parquet file is quarantined and its range left to run again."""
        done: dict[str, list[tuple[int, int]]] = defaultdict(list)
        if not self.results.is_dir():
            return done
        for partition in self.results.iterdir():
            if not partition.is_dir():
                continue
            for entry in os.scandir(partition):
                match = SHARD_FILE.match(entry.name)
                if match is None:
                    continue
                if not whole_parquet(Path(entry.path)):
                    self.quarantine(Path(entry.path), "not a whole Parquet file")
                    continue
                done[match[1]].append((int(match[2]), int(match[3])))
        return done

    def quarantine(self, path: Path, why: str) -> Path:
        """Set aside a file under a final name that cannot be read: kept for a look, out of
        every reader's way, and said in one line."""
        if self.read_only:
            print(f"warning: {path} {why}: the next run sets it aside and makes it again")
            return path
        relative = path.relative_to(self.root) if path.is_relative_to(self.root) else path.name
        target = self.root / "quarantine" / f"{relative}.{uuid.uuid4().hex[:8]}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        durable.sync_folder(path.parent)
        print(f"warning: {path} {why}: moved to {target}; it will be made again", flush=True)
        return target

    def remove_temporaries(self) -> int:
        """Delete half-written shard files a crash left behind; they are never results."""
        removed = 0
        for path in [*self.results.glob("model=*/.*.tmp"), *self.root.glob("scores/*/.*.tmp")]:
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def write_shard(self, model: str, cell_id: str, start: int, end: int, table: pa.Table) -> Path:
        return self.write_table(
            self.results / f"model={model}", shard_name(cell_id, start, end), table
        )

    def write_table(self, folder: Path, name: str, table: pa.Table) -> Path:
        return durable.write_file(
            folder / name, lambda path: pq.write_table(table, path, compression="zstd")
        )

    def shard_files(self, cell_ids: set[str]) -> list[Path]:
        """The generated shard files of these cells, in a stable order."""
        if not self.results.is_dir():
            return []
        found = []
        for partition in sorted(self.results.iterdir()):
            if partition.is_dir():
                found += [
                    partition / e.name
                    for e in os.scandir(partition)
                    if (m := SHARD_FILE.match(e.name)) and m[1] in cell_ids
                ]
        return sorted(found)

    def scores_path(self, shard_file: Path) -> Path:
        """Where the judge stage writes the scored rows of a generated shard file."""
        return self.root / "scores" / shard_file.parent.name / shard_file.name

    def write_json(self, name: str, payload: Any) -> None:
        self.write_text(name, json.dumps(payload, indent=2, default=str))

    def read_json(self, name: str, default: Any) -> Any:
        """A JSON file beside the results, or `default` when it is missing or unreadable
        (quarantined: an empty models.json must not block every later run)."""
        path = self.root / name
        if not path.is_file():
            return default
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.quarantine(path, "is not valid JSON")
            return default

    def write_text(self, name: str, text: str) -> None:
        durable.write_text(self.root / name, text)


# Every Parquet file ends with its footer's length and these four bytes.
PARQUET_MAGIC = b"PAR1"


def whole_parquet(path: Path) -> bool:
    """Whether a file ends like a Parquet file: an empty or cut-short file does not. Reads
    8 bytes, so resume planning stays a listing of names."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < 12:  # header magic, footer length, footer magic
                return False
            f.seek(size - 4)
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False
