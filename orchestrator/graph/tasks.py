"""Nodes that run as Ray tasks (training): queued in the driver until the cluster has room.

An engine pool that a later node still needs stays up while training runs, so the model
loads once. But a task waiting in Ray for CPUs or GPUs that an idle pool holds would wait
forever: the pool only stops when nothing needs it. So a task is submitted only when CPUs
(and a GPU, on GPU nodes) that no live pool or running task holds exist, and it asks for
at most that many CPUs; its threads stay as configured. When no task runs and there is no
room, idle pools stop to make it (they load again when a node needs them: on a one-GPU
machine, training and serving take turns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.published import Placement, train_here
from orchestrator import models
from orchestrator.context import RunContext
from orchestrator.events import EventLog
from orchestrator.graph.curves import RL_CURVES
from orchestrator.graph.node import Node, TaskWork
from orchestrator.mirror import active, is_remote
from orchestrator.scheduler import Failure, Scheduler
from orchestrator.session import Session
from orchestrator.workers import worker_env, worker_secrets


class TaskRunner:
    def __init__(self, ctx: RunContext, scheduler: Scheduler[Any], events: EventLog) -> None:
        self.ctx, self.scheduler, self.events = ctx, scheduler, events
        self.device = ctx.session.device()
        self.queued: list[tuple[Node, TaskWork]] = []
        self.running: dict[Any, tuple[Node, float]] = {}  # ref -> (node, CPUs it holds)
        self.failures: list[Failure] = []

    @property
    def busy(self) -> bool:
        return bool(self.queued or self.running)

    def add(self, node: Node, work: TaskWork) -> None:
        self.queued.append((node, work))

    def _room(self) -> tuple[float, float]:
        """(CPUs, GPUs) that neither a live pool nor a running task holds."""
        import ray

        total = ray.cluster_resources()
        tasks = sum(cpus for _, cpus in self.running.values())
        gpus = float(ray.available_resources().get("GPU", 0))
        return total.get("CPU", 1) - self.scheduler.held_cpus() - tasks, gpus

    def submit(self) -> None:
        import ray

        while self.queued:
            node, work = self.queued[0]
            gpus = 1 if self.device == "cuda" else 0
            cpus, free_gpus = self._room()
            short = cpus < 1 or free_gpus < gpus
            # A running task frees its share when it ends; with none running, only stopping
            # an idle pool makes room.
            if short and not self.running and self.scheduler.evict_idle():
                cpus, free_gpus = self._room()
            if cpus < 1 or free_gpus < gpus:
                return  # a busy pool or task holds them: submitted when it is done
            self.queued.pop(0)
            want = min(work.cpus, cpus)
            env = worker_env(self.ctx.root, self.device, str(models.cache_dir()))
            # Ray would set it to the CPUs asked, fewer than configured when an idle pool
            # holds some (an idle engine uses none).
            env["OMP_NUM_THREADS"] = str(max(1, round(work.cpus)))
            function, args = work.function, work.args
            placement = self._placement()
            if placement is not None:  # trained where it runs, published through the store
                function, args = train_here, (work.function, placement, *work.args)
            task = ray.remote(function).options(
                num_cpus=want,
                num_gpus=gpus,
                max_retries=self.ctx.root.max_retries,  # a killed worker resumes (checkpoints)
                runtime_env={"env_vars": env},
            )
            secrets = {**worker_secrets(), **worker_secrets(work.secret_env)}
            self.running[task.remote(*args, secrets)] = (node, want)
            self.events("task_start", node.id, stage=node.stage, cpus=want, label=work.label)

    def _placement(self) -> Placement | None:
        """Where training output goes when the sweep folder is on an object store."""
        root = self.ctx.root
        if not is_remote(root.output_root):
            return None
        return Placement(f"{root.output_root}/{root.sweep.name}", str(self.ctx.store.root))

    def _fetched(self, node: Node) -> None:
        """A published adapter brought into the driver's copy (its training record and
        curves are read there; `done` looks there)."""
        mirror = active()
        if mirror is not None and node.spec.output == "adapters":
            mirror.fetch(f"artifacts/adapters/{node.id}")

    def poll(self, timeout: float) -> list[tuple[Node, dict[str, Any] | None]]:
        """Finished tasks: (node, its summary), or (node, None) when it failed (recorded)."""
        import ray

        self.submit()
        if not self.running:
            return []
        ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=timeout)
        out: list[tuple[Node, dict[str, Any] | None]] = []
        for ref in ready:
            node, _ = self.running.pop(ref)
            try:
                result = ray.get(ref)
                self._fetched(node)
                out.append((node, result))
            # Whatever ended it (an error, a crash, killed for memory, cancelled, its node
            # gone): this node failed, the run goes on.
            except ray.exceptions.RayError as e:
                message = _why(e)
                self.events("failed", node.id, error=message)
                self.failures.append(Failure(f"{node.kind}-{node.id}", node.cell.id, 1, message))
                out.append((node, None))
        return out

    def interrupted(self) -> None:
        """Record every queued or running task as failed ("interrupted")."""
        nodes = [node for node, _ in self.running.values()] + [n for n, _ in self.queued]
        for node in nodes:
            self.events("interrupted", node.id)
            self.failures.append(
                Failure(f"{node.kind}-{node.id}", node.cell.id, 0, "interrupted before it finished")
            )

    def cancel(self) -> None:
        """Stop the tasks still running when the run ends without them (an interrupt, an
        error). A driver process that exits takes its tasks with it, but a run called in a
        process that goes on (a notebook, a test) would leave them holding the cluster's
        CPUs, and the next run's training would wait on them forever."""
        import ray

        for ref in self.running:
            ray.cancel(ref, force=True)
        self.running.clear()
        self.queued.clear()


def _why(error: Exception) -> str:
    """One line: a task's own exception (the last line of the traceback Ray sends), or what
    ended it from outside (killed for memory, cancelled, its worker or node gone) and why."""
    import ray

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if isinstance(error, ray.exceptions.RayTaskError) and lines:
        return lines[-1][:300]
    return f"{type(error).__name__}: {lines[0] if lines else 'no reason given'}"[:300]


def log_task(session: Session, node: Node, result: dict[str, Any], output: Path) -> None:
    """One W&B run per task node: its summary, its curves per step (a fine-tune's loss; an
    RL job's loss and reward), and its output folder (an adapter) as an artifact."""
    curves = {
        "loss": result.get("losses") or result.get("loss") or [],
        "reward": result.get("reward") or [],
        **{name: result.get(name) or [] for name in RL_CURVES},
    }
    summary = {k: v for k, v in result.items() if k not in (*curves, "losses", "rollouts")}
    label = str(result.get("label", f"{node.kind}-{node.id}"))
    run = session.job_tracker(label, node.kind, {"node": node.id, "stage": node.stage, **summary})
    for step in range(1, max(len(c) for c in curves.values()) + 1):
        values = {name: c[step - 1] for name, c in curves.items() if len(c) >= step}
        run.log({**values, "step": step})
    if output.is_dir() and node.spec.output == "adapters":
        run.artifact(f"adapter-{node.id}", "lora-adapter", output)
    elif output.is_dir():
        run.artifact(f"{node.kind}-{node.id}", node.spec.output, output)
    run.finish()
