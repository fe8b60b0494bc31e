"""Thread nodes (graph/threads.py): work queued together with one function runs in one call;
a call that raises fails its nodes; an interrupted run records what did not finish."""

from __future__ import annotations

import threading
import time
from typing import Any

from orchestrator.events import EventLog
from orchestrator.graph.node import Node, ThreadWork
from orchestrator.graph.threads import ThreadRunner


def node(name: str) -> Node:
    cell: Any = type("Cell", (), {"id": "c0"})()
    return Node("score", "score", name, (), cell, lambda artifacts: None, per_shard=True)


def finish(runner: ThreadRunner, timeout: float = 5.0) -> list[str]:
    done: list[str] = []
    deadline = time.monotonic() + timeout
    while runner.busy and time.monotonic() < deadline:
        done += [n.id for n in runner.poll(0.05)]
    return done


def test_work_queued_together_runs_in_one_call() -> None:
    calls: list[list[int]] = []
    gate = threading.Event()

    def run(items: list[Any]) -> None:
        gate.wait(5)
        calls.append(items)

    runner = ThreadRunner(EventLog(None))
    runner.add(node("a"), ThreadWork(0, run))  # the thread takes it alone, waits at the gate
    time.sleep(0.2)
    for i in (1, 2, 3):
        runner.add(node(f"n{i}"), ThreadWork(i, run))
    gate.set()
    assert sorted(finish(runner)) == ["a", "n1", "n2", "n3"]
    assert calls == [[0], [1, 2, 3]]  # the three written meanwhile: one call
    runner.close()
    assert not runner.failures


def test_a_call_that_raises_fails_its_nodes_only() -> None:
    def run(items: list[Any]) -> None:
        if "bad" in items:
            raise OSError("No space left on device")

    runner = ThreadRunner(EventLog(None))
    runner.add(node("bad"), ThreadWork("bad", run))
    assert finish(runner) == []
    runner.add(node("good"), ThreadWork("good", run))
    assert finish(runner) == ["good"]
    runner.close()
    assert [(f.shard_id, f.error) for f in runner.failures] == [
        ("bad", "OSError: No space left on device")
    ]


def test_an_interrupted_run_records_what_did_not_finish() -> None:
    gate = threading.Event()
    ran: list[Any] = []

    def run(items: list[Any]) -> None:
        gate.wait(5)
        ran.extend(items)

    runner = ThreadRunner(EventLog(None))
    runner.add(node("slow"), ThreadWork("slow", run))
    time.sleep(0.2)
    runner.add(node("queued"), ThreadWork("queued", run))
    started = time.monotonic()
    runner.interrupted()  # waits a moment for the call in flight, starts nothing more
    assert time.monotonic() - started < 3
    gate.set()
    assert sorted((f.shard_id, f.error) for f in runner.failures) == [
        ("queued", "interrupted before it finished"),
        ("slow", "interrupted before it finished"),
    ]
    assert not runner.busy
    time.sleep(0.2)
    assert ran == ["slow"]  # the call in flight ends on its own; "queued" never starts
