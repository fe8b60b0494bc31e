"""A staged run's progress: a line per stage as nodes finish, and every 30 s while a long
node runs (a training job used to leave the log silent for minutes)."""

from __future__ import annotations

import io
from typing import Any

from orchestrator.graph.progress import StageProgress


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_each_stage_gets_counts_running_nodes_and_an_eta() -> None:
    clock, out, logged = Clock(), io.StringIO(), []
    stages = {"ft-a": "insert", "ft-b": "insert", "ev-a": "evaluate"}

    def log(metrics: dict[str, Any]) -> None:
        logged.append(metrics)

    progress = StageProgress("sa_grid", stages, log, out, clock)
    progress.started("ft-a")
    progress.started("ft-b")
    clock.t = 10
    progress.tick()
    assert out.getvalue() == ""  # nothing yet: 10 s
    clock.t = 45
    progress.tick()  # a long training job: the log hears from it
    assert out.getvalue().splitlines() == [
        "[sa_grid] stage insert: 0/2 nodes done | running: ft-a 0:00:45, ft-b 0:00:45 | "
        "elapsed 0:00:45 | ETA ?"
    ]
    clock.t = 100
    progress.finished("ft-a")  # 100 s for one node: one left, one running
    assert out.getvalue().splitlines()[-1] == (
        "[sa_grid] stage insert: 1/2 nodes done | running: ft-b 0:01:40 | elapsed 0:01:40 | "
        "ETA 0:01:40"
    )
    assert logged[-1] == {"stage/insert/done": 1, "stage/insert/failed": 0, "stage/insert/total": 2}
    progress.finished("ft-b", ok=False)
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith("[sa_grid] stage insert: 1/2 nodes done, 1 failed | running: none")
    )
    progress.finished("reused-node")  # not planned by this run: not counted, not said
    assert len(out.getvalue().splitlines()) == 3
