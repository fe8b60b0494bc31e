"""Training nodes as Ray tasks (graph/tasks.py): however a task ends without a result (an
error, cancelled, killed for memory: tests/orchestrator/test_local_cluster.py), its node
fails and the run goes on; a run that ends early stops the tasks it started, so a later run
in the same process (a notebook, the test suite) finds the cluster's CPUs free instead of
queueing its training behind them."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from orchestrator.events import EventLog
from orchestrator.graph.node import Node, TaskWork
from orchestrator.graph.tasks import TaskRunner
from orchestrator.run import load_sweep
from tests.cluster_state import free_cpus, wait_for
from tests.conftest import sweep_args


def runner(tmp_path: Path) -> TaskRunner:
    """A task runner on the connected cluster, with no engine pool holding CPUs."""
    _, root, _ = load_sweep(sweep_args(tmp_path))
    ctx: Any = SimpleNamespace(root=root, session=SimpleNamespace(device=lambda: "cpu"))
    scheduler: Any = SimpleNamespace(held_cpus=lambda: 0.0, evict_idle=lambda: 0)
    return TaskRunner(ctx, scheduler, EventLog(None))


def sleeper(seconds: float, cpus: float) -> tuple[Node, TaskWork]:
    def sleep(seconds: float, secrets: dict[str, str]) -> dict[str, Any]:
        time.sleep(seconds)  # nested: sent by value (a worker cannot import tests/)
        return {}

    cell: Any = SimpleNamespace(id="c0")
    node = Node("finetune", "finetune", "ft0", (), cell, lambda artifacts: None)
    return node, TaskWork(sleep, (seconds,), cpus, "sleeper")


def test_a_run_that_ends_early_stops_its_running_tasks(tmp_path: Path, ray_cluster: None) -> None:
    import ray

    tasks = runner(tmp_path)
    total = float(ray.cluster_resources()["CPU"])
    tasks.add(*sleeper(600, total))
    tasks.submit()
    assert wait_for(lambda: free_cpus() == 0, 60), "the task never started"
    time.sleep(2)
    ready, _ = ray.wait(list(tasks.running), timeout=0)
    assert not ready and free_cpus() == 0, "the task is running, holding every CPU"
    tasks.cancel()
    assert not tasks.busy
    assert wait_for(lambda: free_cpus() == total, 30), f"{total - free_cpus()} CPUs still held"


def test_a_task_cancelled_from_outside_fails_its_node_only(
    tmp_path: Path, ray_cluster: None
) -> None:
    """Not only a task's own error: any end without a result fails the node (before, a
    TaskCancelledError, OutOfMemoryError or NodeDiedError escaped and stopped the run)."""
    import ray

    tasks = runner(tmp_path)
    tasks.add(*sleeper(600, 1))
    tasks.submit()
    (ref,) = tasks.running
    ray.cancel(ref, force=True)  # `ray job stop`, an operator, a preemption
    deadline = time.monotonic() + 60
    finished: list[tuple[Node, Any]] = []
    while not finished and time.monotonic() < deadline:
        finished = tasks.poll(0.5)
    assert [(node.id, result) for node, result in finished] == [("ft0", None)]
    (failure,) = tasks.failures
    assert "TaskCancelledError" in failure.error or "cancelled" in failure.error
    assert not tasks.busy
