"""The generation stage of a prompted study: every pending shard of every cell a generate
node of the graph runner (the runner every study's nodes run on), each finished shard
written once, counted in the progress line and mirrored to the tracker.

`GenerationRun` is the `StudyRun` of the generic prompted study; a judged study extends it
with what happens after generation (alignment_faking adds its judge stage).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from analysis.summary import cell_summary
from orchestrator import memory, models
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext
from orchestrator.endpoints import check_endpoints
from orchestrator.graph.node import Node
from orchestrator.graph.runner import GraphRunner
from orchestrator.plan import Prepared, Shard, pending_shards, prepare_jobs
from orchestrator.pools import pool_key
from orchestrator.report import end_summary, plan_summary, status_table, sweep_rows

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
        # dispatched); with shards to run, Ray and the first model's engine start meanwhile
        # (Ray waits on its processes, the engine loads in its own, the check uses this
        # one's CPU), so the first shard is not held up by each in turn.
        trained = self.trained()
        prepare = lambda: prepare_jobs(self.ctx.root, self.shards, trained)  # noqa: E731
        if self.shards and self.ctx.root.mode == "run":
            # Not when a stage before generation runs first: the engine would hold the
            # CPUs or GPUs its training needs.
            first = [] if trained else first_cells(self.shards)
            self.prepared = while_starting(prepare, lambda: self.start(first))
        else:
            self.prepared = prepare()
        if self.ctx.root.mode == "run":  # hosted models answer, with their key and name
            check_endpoints({s.cell.id: s.cell.config for s in self.prepared.shards}.values())

    def start(self, first: list[RootConfig]) -> None:
        """Ray, then the engine pool of the first shards (their generate nodes take it), when
        those cells share one (not other weights under one name, nor other engine
        settings)."""
        session = self.ctx.session
        device = session.device()
        # The preparing thread may prepare the same model now: a lock serialises the two
        # (models/lock.py), and the second finds it done.
        paths: dict[str, str] = {}
        served = []
        for cfg in first:
            weights = models.weights_key(cfg.model)
            if weights not in paths:
                paths[weights] = models.prepare_model(cfg.model)
            served.append((cfg, paths[weights]))
        if len({pool_key(c, device, path) for c, path in served}) == 1:
            cfg, path = served[0]
            session.pools.start(cfg, device, str(models.cache_dir()), model_path=path)

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
        if not self.prepared.shards and ctx.root.mode == "run":
            print(
                f"nothing to run: all {report.shards_total} shards of {len(ctx.cells)} cells "
                "are done"
            )
        nodes = self.nodes(self.prepared)
        planned = bool(nodes)
        if nodes:
            self.generate(nodes)
            nodes.clear()  # the nodes' builds hold what they read (a judge's requests)
            memory.give_back()  # what the graph freed, before the metrics and report read rows
        self.after_generation()
        ran = bool(planned and report.stages.ran)  # rows, or a stage before generation
        return ran or bool(report.rows_written or (report.judging and report.judging.rows))

    def trained(self) -> dict[str, str]:
        """cell id -> the adapter a stage before generation trains for it (none here)."""
        return {}

    def nodes(self, prepared: Prepared) -> list[Node]:
        """What this run's graph runs: a generate node per shard (a study with stages before
        generation adds their nodes, and its cells' shards wait on them)."""
        return shard_nodes(prepared)

    def after_generation(self) -> None:
        """A judged study's stages after generation (none here)."""

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

    def generate(self, nodes: list[Node]) -> None:
        """The nodes run by the graph runner, as any study's are: a shard's job built (its
        prompts rendered) a few ahead of dispatch, its rows written by the writer's thread;
        engines are released whatever happens."""
        ctx, report = self.ctx, self.ctx.report
        runner = GraphRunner(ctx, nodes, done=self.done)
        report.stages = runner.report  # what ran and what was reused (tests read it)
        started = time.monotonic()
        try:
            runner.run()
        finally:  # also on Ctrl-C, SIGTERM, a full disk: what did not finish is recorded
            report.failures += runner.report.failures  # after any stage before generation's
            report.seconds = time.monotonic() - started


def shard_nodes(prepared: Prepared, after: Mapping[str, str] | None = None) -> list[Node]:
    """A generate node per shard, in the order they run; its job is built when it starts.
    `after`: cell id -> the node its rows wait for (the training of its adapter)."""
    waits = after or {}

    def node(shard: Shard) -> Node:
        cell = shard.cell.id
        return Node(
            kind="generate",
            stage="generate",
            id=shard.id,
            inputs=(waits[cell],) if cell in waits else (),
            cell=shard.cell,
            build=lambda artifacts: prepared.job(shard),
            serve=(shard.cell.config, prepared.path(shard)),
            shard=shard,
        )

    return [node(shard) for shard in prepared.shards]


def first_cells(shards: list[Shard]) -> list[RootConfig]:
    """The cells whose shards run first: shards run model by model, in name order
    (plan.prefix_order)."""
    name = min(shard.cell.config.model.name for shard in shards)
    first = {s.cell.id: s.cell.config for s in shards if s.cell.config.model.name == name}
    return list(first.values())


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
