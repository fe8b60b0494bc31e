"""Finished shards written by a thread of their own, so the dispatch loop never waits on a
Parquet file and its fsyncs: each shard that comes back is queued, written once, then
counted in the progress line, the run's report and the tracker.

A write that fails (a full or read-only disk) stops the writing: the shard and every shard
queued behind it are recorded as not written, and the error is raised on the dispatch
loop's thread at its next shard (or when the recorder closes), where the scheduler stops
dispatching. So every shard of a run ends written or listed as failed, never both.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator import cost
from orchestrator.context import RunContext
from orchestrator.plan import Job, Shard
from orchestrator.progress import Progress
from orchestrator.queues import take_all
from orchestrator.scheduler import Failure

# Shards waiting for the writer before the dispatch loop waits for it in turn.
WAITING = 64


class ShardRecorder:
    """Called for each finished shard (on the dispatch loop): queue it for the writer."""

    def __init__(
        self,
        shards: list[Shard],
        ctx: RunContext,
        progress: Progress,
    ) -> None:
        self.store, self.tracker, self.report = ctx.store, ctx.session.tracker, ctx.report
        self.progress = progress
        self.left = Counter(s.cell.id for s in shards)
        self.cells: dict[str, list[int]] = {}  # cell id -> [rows, tokens, truncated] this run
        self.started = time.monotonic()
        self.failures: list[Failure] = []  # shards whose rows came back and were not written
        self.error: BaseException | None = None  # the writer's, raised on the caller's thread
        self.raised = False
        self.waiting: queue.Queue[tuple[Job, pa.Table] | None] = queue.Queue(WAITING)
        self.written_ids: queue.SimpleQueue[str] = queue.SimpleQueue()  # for drain()
        self.writer = threading.Thread(target=self._write_all, name="mosweep-writer")
        self.writer.start()

    def __call__(self, job: Job, table: pa.Table) -> None:
        shard = job.shard
        expected = shard.size * shard.cell.config.sampling.n
        if table.num_rows != expected:
            raise RuntimeError(f"shard {shard.id} returned {table.num_rows} rows, not {expected}")
        self._raise()
        self.waiting.put((job, table))

    def drain(self, timeout: float = 0.0) -> list[str]:
        """The ids of the shards written since the last call, waiting up to `timeout`
        seconds for one; the writer's error is raised here (a write that failed)."""
        self._raise()
        found = take_all(self.written_ids, timeout)
        self._raise()
        return found

    def close(self) -> None:
        """Write what is queued, stop the writer, and raise its error if it had one."""
        self.stop()
        self._raise()

    def stop(self) -> None:
        """Write what is queued and stop the writer (whatever else went wrong)."""
        if self.writer.is_alive():
            self.waiting.put(None)
            self.writer.join()

    def _raise(self) -> None:
        if self.error is not None and not self.raised:
            self.raised = True  # once: the scheduler records the shard it was handed
            raise self.error

    def _write_all(self) -> None:
        while (item := self.waiting.get()) is not None:
            job, table = item
            if self.error is not None:
                self._not_written(job, self.error)
                continue
            try:
                self._write(job, table)
            except BaseException as e:  # raised again on the dispatch loop's thread
                self.error = e
                self._not_written(job, e)

    def _not_written(self, job: Job, error: BaseException) -> None:
        self.failures.append(Failure(job.id, job.cell_id, job.attempts, f"not written: {error}"))

    def _write(self, job: Job, table: pa.Table) -> None:
        shard = job.shard
        self.store.write_shard(shard.cell.model, shard.cell.id, shard.start, shard.end, table)
        tokens = int(pc.sum(table["completion_tokens"]).as_py() or 0)
        truncated = int(pc.sum(pc.equal(table["finish_reason"], "length")).as_py() or 0)
        self.report.shards_run += 1
        self.report.rows_written += table.num_rows
        self.report.tokens += tokens
        prompt = int(pc.sum(table["prompt_tokens"]).as_py() or 0)
        cost.record(self.report.spent, shard.cell.config.model, prompt, tokens)
        self.progress.update(rows=table.num_rows, tokens=tokens)
        sums = self.cells.setdefault(shard.cell.id, [0, 0, 0])
        sums[0], sums[1], sums[2] = sums[0] + table.num_rows, sums[1] + tokens, sums[2] + truncated
        self.left[shard.cell.id] -= 1
        if self.left[shard.cell.id] == 0:  # the cell's last shard of this run
            self._log_cell(sums)
        elapsed = time.monotonic() - self.started
        self.tracker.log(
            {
                "shards_done": self.report.shards_run,
                "rows_done": self.report.rows_written,
                "rows_per_s": self.report.rows_written / elapsed,
                "tokens_per_s": self.report.tokens / elapsed,
                **cost.spent_metrics(self.report.spent),
            }
        )
        self.written_ids.put(job.id)  # written and counted

    def _log_cell(self, sums: list[int]) -> None:
        rows, tokens, truncated = sums
        self.tracker.log(
            {
                "cells_done": sum(1 for n in self.left.values() if n == 0),
                "cell/rows": rows,
                "cell/mean_completion_tokens": tokens / rows,
                "cell/truncation_rate": truncated / rows,
            }
        )
