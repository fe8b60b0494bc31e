"""Run a stage graph: every node whose inputs exist, until none is left.

Nodes found complete on disk are skipped; a failed node is recorded (failed_shards.json)
and the nodes downstream of it wait for the next invocation, which resumes exactly there.
Every engine node, whatever its stage or study, goes to one scheduler, whose pools stay up
while a node still to run needs them: the base model of a pipeline loads once per engine
settings (`engine_load` events in events.jsonl count it).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from orchestrator import models
from orchestrator.context import RunContext
from orchestrator.events import EventLog
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.curves import training_curves
from orchestrator.graph.frontier import Frontier
from orchestrator.graph.node import GenerateWork, Node, TaskWork, ThreadWork
from orchestrator.graph.progress import StageProgress
from orchestrator.graph.shards import Shards
from orchestrator.graph.tasks import TaskRunner, log_task
from orchestrator.graph.threads import ThreadRunner
from orchestrator.pools import pool_key
from orchestrator.progress import clock
from orchestrator.scheduler import BatchJob, Failure, Scheduler
from orchestrator.studies import get_study, row_schema

CURVES = "training_curves.parquet"  # under the sweep's metrics/

# Engine batches built (their prompts rendered and tokenized) and waiting for an engine:
# enough to keep every replica fed between two turns of the loop, few enough that the
# driver's memory does not grow with the grid.
AHEAD = 16


@dataclass
class GraphReport:
    """What one invocation ran and reused, node by node (tests assert on it)."""

    ran: dict[str, list[str]] = field(default_factory=dict)  # stage -> node ids run now
    reused: list[str] = field(default_factory=list)  # node ids complete before this run
    blocked: list[str] = field(default_factory=list)  # waiting on a node that failed
    failures: list[Failure] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # task node id -> its summary
    engine_loads: int = 0

    def ran_ids(self, stage: str) -> list[str]:
        return self.ran.get(stage, [])


class GraphRunner:
    def __init__(
        self,
        ctx: RunContext,
        nodes: list[Node],
        done: dict[str, list[tuple[int, int]]] | None = None,
    ):
        # done: the rows already written (store.done_ranges()), when the caller read them
        self.ctx, self.done = ctx, done
        self.artifacts = Artifacts(ctx.store)
        self.schema = row_schema(get_study(ctx.root.study.name))  # its generate nodes' rows
        self.nodes: dict[str, Node] = {}
        for node in nodes:  # nodes of equal id are one node: built once, shared by cells
            self.nodes.setdefault(node.id, node)
        self.report = GraphReport()
        self.finished: set[str] = set()
        self.frontier = Frontier([], set(), {})  # the nodes left: set by run()
        # engine nodes dispatched (a shard node until its file is written)
        self.running: dict[str, tuple[Node, GenerateWork | None]] = {}
        self.progress = StageProgress(ctx.root.sweep.name, {})
        self.shards = Shards(ctx, [])
        self.threads: ThreadRunner  # set by run()

    def todo(self) -> list[Node]:
        """The nodes whose output is missing (reads the disk, runs nothing)."""
        rows = self.done if self.done is not None else self.ctx.store.done_ranges()
        return [n for n in self.nodes.values() if not self.artifacts.node_done(n, rows)]

    def run(self) -> GraphReport:
        self._run()
        self.write_curves()
        return self.report

    def write_curves(self) -> None:
        """metrics/training_curves.parquet: the grid's training jobs, run now or reused."""
        curves = training_curves(self.artifacts, self.nodes.values())
        if curves is not None:
            self.ctx.store.write_table(self.ctx.store.root / "metrics", CURVES, curves)

    def _run(self) -> None:
        ctx = self.ctx
        todo = self.todo()
        self.finished = set(self.nodes) - {n.id for n in todo}
        self.report.reused = sorted(self.finished)
        for node_id in self.finished:  # a kill between a task's output and its cleanup
            shutil.rmtree(self.artifacts.path("work", node_id), ignore_errors=True)
        if not todo:  # a finished graph re-run: no cluster to start
            return
        self.progress = StageProgress(
            ctx.root.sweep.name,
            {n.id: n.stage for n in todo if n.shard is None},  # shards: the rows line
            lambda metrics: ctx.session.tracker.log(metrics),
            sys.stdout,  # as it is now (a test's capture), not as it was at import
            per_shard={n.id for n in todo if n.per_shard},
        )
        device = ctx.session.device()
        keys = {n.id: pool_key(n.serve[0], device, n.serve[1]) for n in todo if n.serve is not None}
        self.frontier = Frontier(todo, self.finished, keys)
        events = EventLog(ctx.store.root / "events.jsonl")
        self.shards = Shards(ctx, todo)
        scheduler: Scheduler[Any] = Scheduler(
            device,
            str(models.cache_dir()),
            self._generated,
            ctx.root.max_retries,
            events,
            needed=self.frontier.needed,
            shared=ctx.session.pools,
        )
        tasks = TaskRunner(ctx, scheduler, events)
        self.threads = ThreadRunner(events)
        self.events = events
        try:
            self._loop(scheduler, tasks)
            self.shards.close()
            self.threads.close()
        except (KeyboardInterrupt, OSError):  # Ctrl-C, SIGTERM, a full disk: recorded
            scheduler.interrupted()
            tasks.interrupted()
            self.threads.interrupted()
            self.shards.stopped(list(self.frontier.pending), events)
            raise
        finally:
            tasks.cancel()  # none left after a whole run; an early end's would hold CPUs
            self.shards.finish()
            self.report.failures = (
                scheduler.failures + tasks.failures + self.threads.failures + self.shards.failures()
            )
            self.report.engine_loads = scheduler.loads
            scheduler.shutdown()
            events.close()

    def _loop(self, scheduler: Scheduler[Any], tasks: TaskRunner) -> None:
        seen, threads = 0, self.threads
        while self.frontier or self.running or tasks.busy or threads.busy:
            self._start_ready(scheduler, tasks)
            if not (self.running or tasks.busy or threads.busy or scheduler.busy()):
                # Nothing runs and nothing could start: every pending node waits on a failure.
                self.report.blocked += self.frontier.stranded()
                return
            if scheduler.busy():
                scheduler.step(0.2)
            for failure in scheduler.failures[seen:]:  # a batch that failed its retries
                self.running.pop(failure.shard_id, None)
                self._failed(failure.shard_id)
            seen = len(scheduler.failures)
            # shards whose rows are still being written: wait on the writer, not the cluster
            writing = not (scheduler.busy() or tasks.busy)
            for node_id in self.shards.written(0.2 if writing else 0):
                node, _ = self.running.pop(node_id)
                self._finish(node)
            for node, result in tasks.poll(0 if scheduler.busy() else 0.5):
                if result is None:
                    self._failed(node.id)
                else:
                    self.report.results[node.id] = result
                    self._finish(node)
                    log_task(self.ctx.session, node, result, self.artifacts.output(node))
            failed = len(threads.failures)
            for node in threads.poll(0.2 if writing and not tasks.busy else 0):
                self._finish(node)
            for failure in threads.failures[failed:]:
                self._failed(failure.shard_id)
            scheduler.release()
            self.progress.tick()

    def _failed(self, node_id: str) -> None:
        """A node failed: counted, and every node downstream of it blocked (the frontier's)."""
        if node_id in self.shards.nodes:
            self.shards.failed()
        self.progress.finished(node_id, ok=False)
        self.report.blocked += self.frontier.failed(node_id)

    def _start_ready(self, scheduler: Scheduler[Any], tasks: TaskRunner) -> None:
        """Start every node whose inputs exist (a driver node finishes at once, readying
        its dependants); an engine node only while fewer than AHEAD batches wait for an
        engine, since building it renders its prompts."""
        while node := self.frontier.take(scheduler.queued() < AHEAD):
            self._start(node, scheduler, tasks)

    def _start(self, node: Node, scheduler: Scheduler[Any], tasks: TaskRunner) -> None:
        node_id = node.id
        if node.shard is not None:  # its prompts rendered now; the scheduler logs the rest
            assert node.serve is not None, "a shard node names its engine"
            scheduler.add(node.build(self.artifacts), node.serve[1])
            self.running[node_id] = (node, None)
            return
        self.events("node_start", node_id, kind=node.kind, stage=node.stage)
        self.progress.started(node_id)
        work = node.build(self.artifacts)
        runs_on = node.spec.runs_on
        if runs_on == "driver":
            self.artifacts.write_json(node.spec.output, node_id, work, node.spec.suffix)
            self._finish(node)
        elif runs_on == "task":
            assert isinstance(work, TaskWork), f"{node.kind} builds a TaskWork"
            tasks.add(node, work)
        elif runs_on == "thread":
            assert isinstance(work, ThreadWork), f"{node.kind} builds a ThreadWork"
            self.threads.add(node, work)
        elif isinstance(work, GenerateWork) and not work.requests:
            self._finish(node)  # nothing left to ask (a judge's answers all cached)
        else:
            assert isinstance(work, GenerateWork) and node.serve is not None
            cfg, path = node.serve
            task = _shard_task(node, work, self.schema)
            scheduler.add(BatchJob(node_id, node.cell.id, cfg, task), path)
            self.running[node_id] = (node, work)

    def _generated(self, job: Any, table: pa.Table) -> None:
        node, work = self.running[job.id]
        if node.shard is not None:  # written by the recorder's thread; finished once written
            assert self.shards.recorder is not None
            self.shards.recorder(job, table)
            return
        del self.running[job.id]
        assert work is not None, "a batch node built its work"
        if work.collect is not None:
            work.collect(table)
        elif node.spec.output == "rows":
            self.ctx.store.write_shard(job.config.model.name, node.id, 0, table.num_rows, table)
        else:
            pairs = zip(
                table["prompt_id"].to_pylist(), table["completion"].to_pylist(), strict=True
            )
            parse = work.parse or (lambda text: text)
            answers = {prompt_id: parse(text) for prompt_id, text in pairs}
            self.artifacts.write_json(node.spec.output, node.id, answers)
        self._finish(node)

    def _finish(self, node: Node) -> None:
        self.finished.add(node.id)
        self.frontier.finished(node.id)
        self.report.ran.setdefault(node.stage, []).append(node.id)
        if node.shard is None:  # a shard's is the scheduler's "done"
            self.events("node_done", node.id, kind=node.kind, stage=node.stage)
        self.progress.finished(node.id)


def _shard_task(node: Node, work: GenerateWork, schema: pa.Schema) -> Any:
    from jobs.rows import ShardTask

    count = len(work.requests)
    labels = {**work.labels, "node": node.id, "stage": node.stage}
    shard_id = f"{node.id}_{0:06d}-{count:06d}"
    return ShardTask(shard_id, work.requests, work.sampling, labels, schema)


def stage_lines(report: GraphReport, started: float) -> str:
    """One line per stage: the nodes it ran now."""
    parts = [f"{stage}: {len(ids)}" for stage, ids in report.ran.items()]
    reused = f", {len(report.reused)} reused" if report.reused else ""
    return (
        f"nodes run: {', '.join(parts) or 'none'}{reused}; "
        f"{report.engine_loads} engine loads, in {clock(time.monotonic() - started)}"
    )
