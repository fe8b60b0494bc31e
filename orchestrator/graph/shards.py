"""The shard nodes of a graph: a grid's rows, generated in shards of a cell's prompts.

A shard node's rows are written by the recorder's thread (orchestrator/recorder.py), so
the loop never waits on a Parquet file; the node finishes, readying what reads it, once
its file is written. Shards are counted in the rows progress line (rows/s, tokens/s),
not a line each, and a run that stops early records the shards it never started, as it
records those it started, so failed_shards.json lists every shard left to run.
"""

from __future__ import annotations

import sys

from orchestrator.context import RunContext
from orchestrator.events import EventLog
from orchestrator.graph.node import Node
from orchestrator.progress import Progress
from orchestrator.recorder import ShardRecorder
from orchestrator.scheduler import Failure


class Shards:
    def __init__(self, ctx: RunContext, todo: list[Node]):
        self.nodes = {n.id: n for n in todo if n.shard is not None}
        shards = [n.shard for n in self.nodes.values() if n.shard is not None]
        rows = sum(s.size * s.cell.config.sampling.n for s in shards)
        self.progress = Progress(ctx.root.sweep.name, len(shards), rows, sys.stdout)
        # no thread for a graph without shards (a staged study's own nodes)
        self.recorder = ShardRecorder(shards, ctx, self.progress) if shards else None
        self.never: list[Failure] = []

    def written(self, timeout: float) -> list[str]:
        """Shard nodes whose file was written since the last call (waits up to `timeout`
        when shards are still being written); a failed write raises here."""
        return self.recorder.drain(timeout) if self.recorder is not None else []

    def failed(self) -> None:
        self.progress.update(failed=1)

    def close(self) -> None:
        """The last shards written; a write that failed raises here."""
        if self.recorder is not None:
            self.recorder.close()

    def stopped(self, unstarted: list[str], events: EventLog) -> None:
        """The run stopped early: what was queued for the writer is written, and the shard
        nodes never started are recorded as interrupted (a re-run plans them again)."""
        if self.recorder is not None:
            self.recorder.stop()
        for node_id in unstarted:
            node = self.nodes.get(node_id)
            if node is not None:
                events("interrupted", node_id)
                why = "interrupted before it started"
                self.never.append(Failure(node_id, node.cell.id, 0, why))

    def failures(self) -> list[Failure]:
        """Shards whose rows came back but were not written, and those never started."""
        written = self.recorder.failures if self.recorder is not None else []
        return written + self.never

    def finish(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
        if self.nodes:
            self.progress.close()
