"""The results store: a hive-partitioned Parquet dataset, one file per finished shard.

Layout under `<output_root>/<sweep>/`:

    results/model=<model>/<cell_id>_<start>-<end>.parquet   rows of prompts [start, end)
    config.yaml, versions.json                              the last invocation's config
    command.json                                            its overrides (orchestrator/recall.py)
    tracker.json                                            W&B run ids (orchestrator/wandb_ids.py)
    failed_shards.json                                      shards that failed last time
    scores/model=<model>/<same name>.parquet                judged studies: rows + scores
    metrics/*.parquet                                       judged studies: metric tables
    metrics/training_curves.parquet                         loss/reward per training step

A shard file is written to a dot-prefixed temporary name, flushed to the disk and renamed
into place (jobs/durable.py), so a file with a final name is complete even after a power
loss (readers skip dot-files); just before the rename it is listed in manifest.jsonl with
its SHA-256 (orchestrator/manifest.py). Which prompts of a cell are done is read from the
names of the files whose bytes match their listing: a file that is not listed or does not
match (a copy cut short, a flipped bit, an edit) is moved to `quarantine/` and said once,
and its shard runs again. The cell id is in the file name, not a partition folder, so readers never
type-infer a hex id as a number.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs import durable
from orchestrator.errors import UserError
from orchestrator.manifest import Manifest

FAILURE_RECORD = "failed_shards.json"  # the shards the last run left unfinished
SHARD_FILE = re.compile(r"^([0-9a-f]{12,})_(\d{6,})-(\d{6,})\.parquet$")


def shard_name(cell_id: str, start: int, end: int) -> str:
    return f"{cell_id}_{start:06d}-{end:06d}.parquet"


# Files under results/ or scores/ already said to be no shard (said once per process).
_NOT_SHARDS: set[Path] = set()
# (file, why) already said by a read-only store (mode=status, report): said once.
_SAID: set[tuple[Path, str]] = set()


def shard_paths(folder: Path) -> list[Path]:
    """The shard files of a results (or scores) folder: files in a `model=<name>` partition
    named as a shard (SHARD_FILE), in a stable order. Anything else there, such as a copy
    under another name (`X (copy).parquet`, which rsync or a file manager leaves) or a
    README, holds no result of this sweep: it is said once, in one line, and never read,
    so no row is counted twice and no reader trips over it. Dot-files are unfinished
    writes, skipped silently."""
    found = []
    for entry in _partition_entries(folder):
        path = Path(entry.path)
        if SHARD_FILE.match(entry.name) and entry.is_file(follow_symlinks=False):
            found.append(path)
        elif not entry.name.startswith(".") and path not in _NOT_SHARDS:
            _NOT_SHARDS.add(path)
            print(
                f"warning: {path} is not a shard file of this sweep (a copy, or put there "
                "by hand): not counted; move it out of the sweep folder",
                flush=True,
            )
    # Only files whose bytes match their listing: the truth mode=status and the report read.
    return ResultStore(folder.parent, read_only=True).finished(found)


def _partition_entries(folder: Path) -> list[os.DirEntry[str]]:
    """Every entry of the `model=<name>` partitions of a results (or scores) folder, in a
    stable order (a linked partition is refused before any mode runs: links.py)."""
    partitions = sorted(p for p in folder.glob("model=*") if p.is_dir() and not p.is_symlink())
    return [e for p in partitions for e in sorted(os.scandir(p), key=lambda e: e.name)]


def _named_shards(folder: Path) -> list[Path]:
    """The files of a results (or scores) folder named as a shard, unchecked."""
    return [Path(e.path) for e in _partition_entries(folder) if SHARD_FILE.match(e.name)]


class ResultStore:
    def __init__(self, sweep_dir: Path, read_only: bool = False) -> None:
        self.root = sweep_dir
        self.results = sweep_dir / "results"
        self.read_only = read_only  # mode=status, dry: say what is broken, move nothing
        self.manifest = Manifest(sweep_dir)

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
        """Prompt index ranges already written, per cell id; a shard file that is not
        finished (not whole, or not what the manifest lists) is quarantined and its range
        left to run again."""
        done: dict[str, list[tuple[int, int]]] = defaultdict(list)
        if not self.results.is_dir():
            return done
        for path in self.finished(_named_shards(self.results)):
            match = SHARD_FILE.match(path.name)
            assert match is not None
            done[match[1]].append((int(match[2]), int(match[3])))
        return done

    def finished(self, paths: list[Path]) -> list[Path]:
        """The files among `paths` that are done: listed in the manifest with these bytes.
        Any other is set aside (read-only: said) and made again."""
        if not self.manifest.exists:
            if self.read_only:  # a folder from before the manifest, only read: whole files
                return [p for p in paths if whole_parquet(p)]
            self._adopt()
        listed = self.manifest.entries()
        done = []
        for path in paths:
            why = self.manifest.mismatch(path, listed)
            if why is not None and not whole_parquet(path):
                why = "is not a whole Parquet file"
            if why is None:
                done.append(path)
            else:
                self.quarantine(path, why)
        return done

    def check(self, path: Path) -> bool:
        """Whether one file is done (finished); set aside when it is not."""
        return bool(self.finished([path]))

    def _adopt(self) -> None:
        """A folder from before the manifest: its whole result and score files are listed
        as found (once; the manifest exists from then on)."""
        named = _named_shards(self.results) + _named_shards(self.root / "scores")
        whole = [path for path in named if whole_parquet(path)]
        for path in whole:
            self.manifest.record(path, pq.read_metadata(path).num_rows)
        if whole:
            print(
                f"listed {len(whole)} finished files in {self.manifest.path} (this folder was "
                "written before mosweep kept a manifest)",
                flush=True,
            )

    def quarantine(self, path: Path, why: str) -> Path:
        """Set aside a file under a final name that cannot be read: kept for a look, out of
        every reader's way, and said in one line."""
        if self.read_only:
            if (path, why) not in _SAID:
                _SAID.add((path, why))
                print(f"warning: {path} {why}: the next run sets it aside and makes it again")
            return path
        relative = path.relative_to(self.root) if path.is_relative_to(self.root) else path.name
        target = self.root / "quarantine" / f"{relative}.{uuid.uuid4().hex[:8]}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        durable.sync_folder(path.parent)
        durable.announce_removed(path)
        durable.announce(target)
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
        """A Parquet file put in place whole (with page checksums); a result or score file
        is listed in the manifest as it is."""
        final = folder / name
        listed = folder.parent in (self.results, self.root / "scores")
        return durable.write_file(
            final,
            lambda path: pq.write_table(table, path, compression="zstd", write_page_checksum=True),
            # listed before the rename: a file under its final name always has its line
            (lambda path: self.manifest.record(final, table.num_rows, path)) if listed else None,
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

    def record_failures(self, failures: list[dict[str, Any]]) -> Path | None:
        """failed_shards.json brought up to date; returns where the unfinished shards are
        listed. When it cannot be written (a full disk), an earlier run's copy is removed
        (which needs no room: a stale list must not pass for this run's) and the list goes
        to the temporary folder instead; None when it could be written nowhere."""
        text = json.dumps(failures, indent=2, default=str)
        record = self.root / FAILURE_RECORD
        try:
            durable.write_text(record, text)
            return record
        except OSError as e:
            why = e.strerror or type(e).__name__
        fallback = Path(tempfile.gettempdir()) / f"mosweep-{self.root.name}-{FAILURE_RECORD}"
        try:
            record.unlink(missing_ok=True)
            durable.write_text(fallback, text)
        except OSError:
            print(
                f"warning: {record} not written ({why}): re-run the same command once there "
                "is room; it finds the unfinished shards again",
                file=sys.stderr,
            )
            return None
        print(f"warning: {record} not written ({why}): written to {fallback}", file=sys.stderr)
        return fallback


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
