"""Progress of a staged run: one line per stage, with its counts, what runs and an ETA.

A staged run (training, evaluation, judging as graph nodes) can spend many minutes in one
node; without this it printed nothing meanwhile. Each node that finishes or fails prints its
stage's line at once, and while nodes run a line per running stage comes every 30 seconds
(a log stays readable; a terminal gets the same lines). The counts also go to the tracker.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TextIO

from orchestrator.progress import clock

EVERY_S = 30.0
PER_SHARD_EVERY_S = 10.0


class StageProgress:
    def __init__(
        self,
        sweep: str,
        stages: dict[str, str],  # node id -> its stage, for every node this run will run
        log: Callable[[dict[str, Any]], None] = lambda metrics: None,
        stream: TextIO = sys.stdout,
        now: Callable[[], float] = time.monotonic,
        per_shard: set[str] | None = None,
    ) -> None:
        self.sweep, self.stages, self.log, self.stream, self.now = sweep, stages, log, stream, now
        # nodes of one shard file each (judging): their stage's line at most every
        # PER_SHARD_EVERY_S and at its last node, not at every node
        self.per_shard = per_shard or set()
        self.total: dict[str, int] = defaultdict(int)
        for stage in stages.values():
            self.total[stage] += 1
        self.done: dict[str, int] = defaultdict(int)
        self.failed: dict[str, int] = defaultdict(int)
        self.took: dict[str, list[float]] = defaultdict(list)  # stage -> finished nodes' times
        self.running: dict[str, float] = {}  # node id -> when it started
        self.begun = self.last = now()

    def started(self, node_id: str) -> None:
        self.running.setdefault(node_id, self.now())

    def finished(self, node_id: str, ok: bool = True) -> None:
        stage = self.stages.get(node_id)
        if stage is None:  # a node this run did not plan (reused): not counted
            return
        began = self.running.pop(node_id, None)
        if ok:
            self.done[stage] += 1
            if began is not None:
                self.took[stage].append(self.now() - began)
        else:
            self.failed[stage] += 1
        left = self.total[stage] - self.done[stage] - self.failed[stage]
        if node_id not in self.per_shard or not left or self.now() - self.last >= PER_SHARD_EVERY_S:
            self._say(self.line(stage))
        self.log(
            {
                f"stage/{stage}/done": self.done[stage],
                f"stage/{stage}/failed": self.failed[stage],
                f"stage/{stage}/total": self.total[stage],
            }
        )

    def tick(self) -> None:
        """While nodes run: every 30 s, the line of each stage that has one running."""
        if not self.running or self.now() - self.last < EVERY_S:
            return
        for stage in sorted({self.stages[n] for n in self.running if n in self.stages}):
            self._say(self.line(stage))

    def line(self, stage: str) -> str:
        now = self.now()
        mine = [n for n in self.running if self.stages.get(n) == stage]
        running = ", ".join(f"{n[:24]} {clock(now - self.running[n])}" for n in mine[:3])
        more = f" +{len(mine) - 3}" if len(mine) > 3 else ""
        failed = f", {self.failed[stage]} failed" if self.failed[stage] else ""
        left = self.total[stage] - self.done[stage] - self.failed[stage]
        took = self.took[stage]
        eta = clock(left * sum(took) / len(took) / max(1, len(mine))) if took else "?"
        return (
            f"[{self.sweep}] stage {stage}: {self.done[stage]}/{self.total[stage]} nodes done"
            f"{failed} | running: {running + more or 'none'} | elapsed "
            f"{clock(now - self.begun)} | ETA {eta if left else clock(0)}"
        )

    def _say(self, text: str) -> None:
        self.last = self.now()
        self.stream.write(text + "\n")
        self.stream.flush()
