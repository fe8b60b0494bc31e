"""Finished shards are written by a thread of their own: each once, counted after it is
written; a write that fails lists that shard and every one queued behind it as not written
and is raised once on the dispatch loop's thread, so no shard is both written and listed."""

from __future__ import annotations

import errno
import io
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from orchestrator.plan import Job, pending_shards
from orchestrator.progress import Progress
from orchestrator.recorder import ShardRecorder
from orchestrator.report import RunReport
from orchestrator.run import load_sweep


class Store:
    """Writes tables in memory; refuses every write from the `full`-th on, as a full disk."""

    def __init__(self, full: int | None = None) -> None:
        self.written: list[tuple[str, int]] = []
        self.threads: set[str] = set()
        self.full = full
        self.gate = threading.Event()
        self.gate.set()

    def write_shard(self, model: str, cell_id: str, start: int, end: int, table: pa.Table) -> Path:
        self.gate.wait()
        self.threads.add(threading.current_thread().name)
        if self.full is not None and len(self.written) >= self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written.append((cell_id, start))
        return Path("x")


def recorder(store: Store) -> tuple[ShardRecorder, list[Job], RunReport]:
    _, _, cells = load_sweep(["+sweep=tiny"])
    shards = pending_shards(cells, {}, 4)  # 12 shards of 4 prompts
    report = RunReport(Path("x"), len(cells), len(shards))
    ctx: Any = SimpleNamespace(
        store=store,
        session=SimpleNamespace(tracker=SimpleNamespace(log=lambda m: None)),
        report=report,
    )
    jobs = [Job(s, None) for s in shards]  # type: ignore[arg-type]
    progress = Progress("tiny", len(shards), 48, stream=io.StringIO())
    return ShardRecorder(shards, ctx, progress), jobs, report


def rows(n: int) -> pa.Table:
    return pa.table(
        {
            "completion_tokens": [1] * n,
            "prompt_tokens": [2] * n,
            "finish_reason": ["stop"] * n,
        }
    )


def test_shards_are_written_by_the_writer_thread_each_once() -> None:
    store = Store()
    store.gate.clear()  # the writer is held up: the dispatch loop does not wait for it
    record, jobs, report = recorder(store)
    for job in jobs:
        record(job, rows(4))
    assert store.written == [] and report.shards_run == 0
    store.gate.set()
    record.close()
    assert sorted(store.written) == sorted((j.shard.cell.id, j.shard.start) for j in jobs)
    assert store.threads == {"mosweep-writer"}
    assert report.shards_run == 12 and report.rows_written == 48 and report.tokens == 48
    assert not record.writer.is_alive()


def test_a_failed_write_lists_it_and_those_behind_it_and_is_raised_once() -> None:
    store = Store(full=3)
    record, jobs, report = recorder(store)
    store.gate.clear()
    for job in jobs[:6]:
        record(job, rows(4))
    store.gate.set()
    while len(record.failures) < 3:  # the writer meets the full disk at the fourth
        record.writer.join(timeout=0.05)
    with pytest.raises(OSError, match="No space left"):
        record(jobs[6], rows(4))  # raised here: the scheduler lists this shard itself
    record.close()  # raised once: closing says nothing more
    listed = [f.shard_id for f in record.failures]
    assert len(store.written) == 3 and report.shards_run == 3
    assert listed == [j.id for j in jobs[3:6]]
    assert all(f.error.startswith("not written: ") for f in record.failures)


def test_a_shard_with_missing_rows_is_refused_before_it_is_queued() -> None:
    record, jobs, _ = recorder(Store())
    with pytest.raises(RuntimeError, match="returned 3 rows, not 4"):
        record(jobs[0], rows(3))
    record.close()
