"""The generation stage of a prompted study: every pending shard of every cell on Ray, each
finished shard written once, counted in the progress line and mirrored to the tracker.

`GenerationRun` is the `StudyRun` of the generic prompted study; a judged study extends it
with what happens after generation (alignment_faking adds its judge stage).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from analysis.summary import cell_summary
from orchestrator import models
from orchestrator.context import RunContext
from orchestrator.endpoints import check_endpoints
from orchestrator.events import EventLog
from orchestrator.plan import Job, Prepared, Shard, pending_shards, prepare_jobs
from orchestrator.progress import Progress
from orchestrator.recorder import ShardRecorder
from orchestrator.report import end_summary, plan_summary, status_table, sweep_rows
from orchestrator.scheduler import Failure, Scheduler

T = TypeVar("T")

# The columns of the W&B sample table: enough to read what a cell answered.
SAMPLE_COLUMNS = [
    "cell_id",
    "model",
    "prompt_variant",
    "axes",
    "prompt_id",
    "sample_idx",
    "completion",
    "finish_reason",
    "completion_tokens",
]


class GenerationRun:
    """One generation pass per cell, in shards; resumable shard by shard."""

    modes: tuple[str, ...] = ()

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.done: dict[str, list[tuple[int, int]]] = {}
        self.shards: list[Shard] = []
        self.prepared: Prepared | None = None

    def _plan(self) -> None:
        """The shards left to run, from the file names on disk."""
        root = self.ctx.root
        self.done = self.ctx.store.done_ranges()
        # mode=judge re-scores what is there and generates nothing.
        if root.mode != "judge":
            self.shards = pending_shards(self.ctx.cells, self.done, root.shard_size)

    def status(self, dry: bool) -> str:
        ctx = self.ctx
        self._plan()
        if dry:
            return plan_summary(ctx.root, ctx.cells, self.shards, dry=True)
        return status_table(ctx.cells, self.done, ctx.store)

    def check(self) -> None:
        self._plan()
        # Prepares every model and checks every request against its context window before
        # any job is submitted (orchestrator/budget.py; jobs are rendered later, as they are
        # dispatched); with shards to run, Ray starts meanwhile (it waits on its processes,
        # the check on the CPU), so the first shard is not held up by both in turn.
        trained = self.trained()
        prepare = lambda: prepare_jobs(self.ctx.root, self.shards, trained)  # noqa: E731
        if self.shards and self.ctx.root.mode == "run":
            self.prepared = while_starting(prepare, self.ctx.session.device)
        else:
            self.prepared = prepare()
        if self.ctx.root.mode == "run":  # hosted models answer, with their key and name
            check_endpoints({s.cell.id: s.cell.config for s in self.prepared.shards}.values())

    def grid_ids(self) -> list[str]:
        return sorted(c.id for c in self.ctx.cells)

    def run(self) -> bool:
        ctx, report = self.ctx, self.ctx.report
        assert self.prepared is not None, "check() first"
        store = ctx.store
        store.write_json(
            "models.json", {**store.read_json("models.json", {}), **self.prepared.chat}
        )
        print(plan_summary(ctx.root, ctx.cells, self.shards, dry=False))
        if self.prepared.shards:
            self.generate(self.prepared)
        elif ctx.root.mode == "run":
            print(
                f"nothing to run: all {report.shards_total} shards of {len(ctx.cells)} cells "
                "are done"
            )
        self.after_generation()
        return bool(report.rows_written or (report.judging and report.judging.rows))

    def trained(self) -> dict[str, str]:
        """cell id -> the adapter a stage before generation trains for it (none here)."""
        return {}

    def after_generation(self) -> None:
        """A judged study's stages after generation (none here)."""

    def shard_written(self, path: Path) -> None:
        """A generated shard file was written (on the writer's thread): a judged study may
        judge it now, while generation goes on."""

    def later_pools(self, device: str) -> set[str]:
        """The engine pools a later stage of this invocation needs (a judge that is the model
        under test): kept up after generation instead of loaded again."""
        return set()

    def finish(self) -> None:
        """The sample and per-cell tables of this grid, then the run's totals."""
        ctx, report = self.ctx, self.ctx.report
        if not ctx.session.tracking:
            return
        tracker = ctx.session.tracker
        if report.rows_written:
            rows = sweep_rows(report.results, ctx.cells, SAMPLE_COLUMNS)
            samples = ctx.root.tracker.sample_rows
            tracker.table("samples", rows.select(SAMPLE_COLUMNS).slice(0, samples))
            tracker.table("cells", cell_summary(rows))
        tracker.log({"failed_shards": len(report.failures), "seconds": report.seconds})

    def summary(self) -> str:
        return end_summary(self.ctx.report, self.ctx.cells)

    def generate(self, prepared: Prepared) -> None:
        """Run every shard's generation job on Ray, each built just before it is queued;
        engines are released whatever happens."""
        ctx, report = self.ctx, self.ctx.report
        device = ctx.session.device()
        shards = prepared.shards
        rows = sum(s.size for s in shards) * ctx.root.sampling.n
        progress = Progress(ctx.root.sweep.name, shards=len(shards), rows=rows)
        recorder = ShardRecorder(shards, ctx, progress, self.shard_written)
        events = EventLog(ctx.store.root / "events.jsonl")
        feed = Feed(prepared, device)
        keep = self.later_pools(device)
        scheduler: Scheduler[Job] = Scheduler(
            device,
            str(models.cache_dir()),
            recorder,
            ctx.root.max_retries,
            events,
            needed=lambda key: key in keep or feed.left[key] > 0,
            shared=ctx.session.pools,
        )
        try:
            failures = scheduler.run(lambda: feed.top_up(scheduler))
            recorder.close()  # the last shards written; a write that failed raises here
            report.failures += failures  # after any stage before generation's
            for _ in failures:
                progress.update(failed=1)
        except (KeyboardInterrupt, OSError):  # also a full disk: nothing more dispatched
            recorder.stop()  # what came back is written, unless the disk refused it
            never = feed.unstarted()
            for failure in never:
                events("interrupted", failure.shard_id)
            # with the interrupted, those not written, and those never queued
            report.failures += scheduler.failures + recorder.failures + never
            raise
        finally:
            recorder.stop()
            progress.close()
            scheduler.shutdown()
            events.close()
            report.seconds = time.monotonic() - recorder.started


# Shards rendered and queued ahead of dispatch: enough to keep every replica fed between two
# turns of the dispatch loop, few enough that the driver's memory does not grow with the grid.
AHEAD = 16


class Feed:
    """Builds the shards' jobs in order, at most AHEAD queued at a time, and counts the
    shards each engine pool has still to come (a pool with more to come stays up)."""

    def __init__(self, prepared: Prepared, device: str) -> None:
        self.prepared = prepared
        self.order = iter(prepared.shards)
        self.keys = prepared.pool_keys(device)  # cell id -> the pool that serves it
        self.left = Counter(self.keys[s.cell.id] for s in prepared.shards)
        self.taken: list[Shard] = []

    def top_up(self, scheduler: Scheduler[Job]) -> bool:
        """Queue jobs until AHEAD wait; False once every shard is queued."""
        while scheduler.queued() < AHEAD:
            shard = next(self.order, None)
            if shard is None:
                return False
            self.taken.append(shard)
            job = self.prepared.job(shard)
            self.left[self.keys[shard.cell.id]] -= 1
            scheduler.add(job, self.prepared.path(shard))
            self.taken.pop()
        return True

    def unstarted(self) -> list[Failure]:
        """The shards never queued, recorded as interrupted (a re-run plans them again)."""
        return [
            Failure(s.id, s.cell.id, 0, "interrupted before it started")
            for s in [*self.taken, *self.order]
        ]


def while_starting(work: Callable[[], T], start: Callable[[], object]) -> T:
    """`work()` in a thread while `start()` runs here, on the main thread (Ray's processes
    must be started from the thread that lives as long as they do); `work`'s error (a
    prompt too long for the context window) is raised as if it had run here."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as e:  # re-raised on the main thread
            error.append(e)

    thread = threading.Thread(target=run, name="mosweep-prepare", daemon=True)
    thread.start()
    start()  # on Ctrl-C or a cluster that cannot start, the thread is left to end alone
    thread.join()
    if error:
        raise error[0]
    return result[0]
