"""Schedule shards on Ray: one pool of engine replicas per model, many shards in flight.

Each pool holds `engine.replicas` actors, each with a loaded engine, requesting
`tensor_parallel_size` GPUs (none on CPU). A model never loads twice: every shard of that
model goes to its pool. A pool stops when it has no job left and `needed` (the stage
graph's question: does a node still to run use it?) says no; it starts again, reloading,
if a job for it comes later. Every start is an `engine_load` event.

Failures are handled at two levels:
- a replica's process dies: Ray restarts it and re-runs its in-flight calls
  (`max_restarts`, `max_task_retries`);
- a shard's job raises: the driver re-queues it up to `max_retries` times, then records it
  as failed and the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import pyarrow as pa

from jobs.rows import ShardTask, with_prompts
from orchestrator.config.schema import RootConfig
from orchestrator.events import EventLog
from orchestrator.pools import EnginePools, Pool, Replica, pool_key


class Job(Protocol):
    """What the scheduler runs: a generation shard (plan.Job) or a batch of judge prompts."""

    task: ShardTask
    attempts: int

    @property
    def id(self) -> str: ...

    @property
    def cell_id(self) -> str: ...

    @property
    def config(self) -> RootConfig:
        """The model and engine settings that serve this job."""


J = TypeVar("J", bound=Job)


@dataclass
class BatchJob:
    """A batch of requests that is not a grid shard (judge prompts, evaluation prompts)."""

    id: str
    cell_id: str
    config: RootConfig
    task: ShardTask
    attempts: int = 0


@dataclass(frozen=True)
class Failure:
    shard_id: str
    cell_id: str
    attempts: int
    error: str


class Scheduler(Generic[J]):
    def __init__(
        self,
        device: str,
        cache: str,
        on_result: Callable[[J, pa.Table], None],
        max_retries: int,
        events: EventLog | None = None,
        needed: Callable[[str], bool] = lambda key: False,
        shared: EnginePools | None = None,
    ) -> None:
        self.device = device
        self.cache = cache
        self.on_result = on_result
        self.max_retries = max_retries
        self.events = events or EventLog(None)
        self.needed = needed
        # Pools outlive this scheduler only when they are shared (the session's): then a
        # pool still needed at shutdown is handed over, not stopped.
        self.handover = shared is not None
        self.shared = shared if shared is not None else EnginePools()
        self.pools: dict[str, Pool] = {}
        self.failures: list[Failure] = []
        self.in_flight: dict[Any, tuple[J, Pool, Replica]] = {}
        self.placing: dict[Any, tuple[str, int]] = {}  # placement() call -> (model, replica)
        self.loads = 0  # pools started, each loading its model once per replica

    def add(self, job: J, model_path: str) -> None:
        cfg = job.config
        key = pool_key(cfg, self.device, model_path)
        if key not in self.pools or self.pools[key].stopped:
            # loaded by an earlier stage and handed over, or started while the driver planned
            pool = self.shared.get(key)
            if pool is None:
                pool = self.shared.start(cfg, self.device, self.cache, model_path=model_path)
            if not pool.counted:
                self._count(pool)
            self.pools[key] = pool
        self.pools[key].pending.append(job)

    def _count(self, pool: Pool) -> None:
        """A pool's load, counted by the first scheduler to use it."""
        pool.counted = True
        for i, ref in enumerate(pool.placing):
            self.placing[ref] = (pool.label, i)
        self.loads += 1
        # `started`: a pool started while the driver planned is counted later, when taken
        self.events(
            "engine_load",
            pool.label,
            pool=pool.key,
            replicas=len(pool.replicas),
            started=round(pool.started, 3),
        )

    def busy(self) -> bool:
        return bool(self.in_flight) or any(pool.pending for pool in self.pools.values())

    def queued(self) -> int:
        """Jobs added and not dispatched yet."""
        return sum(len(pool.pending) for pool in self.pools.values())

    def run(self, top_up: Callable[[], bool] = lambda: False) -> list[Failure]:
        """Run every added job, and those `top_up` adds as it goes (it returns whether it
        has more to add); returns the shards that failed after their retries."""
        try:
            more = top_up()
            while more or self.busy():
                self.step()
                more = top_up()
        except (KeyboardInterrupt, OSError):  # Ctrl-C, SIGTERM, a full or read-only disk:
            self.interrupted()  # say what did not finish, dispatch nothing more, stop
            raise
        return self.failures

    def interrupted(self) -> None:
        """Record every job dispatched or queued and not finished as failed ("interrupted")."""
        unfinished = [job for job, _, _ in self.in_flight.values()]
        unfinished += [job for pool in self.pools.values() for job in pool.pending]
        for job in unfinished:
            self.events("interrupted", job.id)
            self.failures.append(
                Failure(job.id, job.cell_id, job.attempts, "interrupted before it finished")
            )

    def step(self, timeout: float = 0.5) -> None:
        """Dispatch what the replicas have room for, then collect what finished within
        `timeout` seconds, and stop the pools nothing needs any more."""
        import ray

        for pool in self.pools.values():
            if not pool.stopped:
                self._fill(pool)
        self._log_placements()
        if self.in_flight:
            ready, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=timeout)
            for ref in ready:
                job, pool, replica = self.in_flight.pop(ref)
                replica.load -= 1
                pool.in_flight -= 1
                self._collect(ref, job, pool, replica)
        self.release()

    def release(self) -> None:
        """Stop every idle pool that no job still to come needs (frees its GPUs)."""
        for pool in self.pools.values():
            if not pool.stopped and pool.idle and not self.needed(pool.key):
                self._stop(pool)

    def evict_idle(self) -> int:
        """Stop idle pools even if needed later (a training job needs their resources);
        they load again when their next job comes. Returns how many stopped."""
        idle = [p for p in self.pools.values() if not p.stopped and p.idle]
        for pool in idle:
            self.events("engine_evicted", pool.label, pool=pool.key)
            self._stop(pool)
        return len(idle)

    def held_cpus(self) -> float:
        """The CPUs the live replicas hold."""
        return sum(p.cpus * len(p.replicas) for p in self.pools.values() if not p.stopped)

    def _log_placements(self) -> None:
        """Log each replica's node and GPUs once its engine is up (never waits for it)."""
        import ray

        if not self.placing:
            return
        ready, _ = ray.wait(list(self.placing), num_returns=len(self.placing), timeout=0)
        for ref in ready:
            model, index = self.placing.pop(ref)
            try:
                self.events("placed", model, replica=index, **ray.get(ref))
            except ray.exceptions.RayError:
                continue  # the replica died first; its shards say so

    def _fill(self, pool: Pool) -> None:
        live = [r for r in pool.replicas if r.alive]
        if not live:
            while pool.pending:
                self._fail(pool.pending.popleft(), f"every replica of model '{pool.label}' died")
            return
        for replica in live:
            while pool.pending and replica.load < pool.limit:
                job = pool.pending.popleft()
                ref = replica.handle.run_shard.remote(job.task)
                self.events("dispatch", job.id, replica=pool.replicas.index(replica))
                self.in_flight[ref] = (job, pool, replica)
                replica.load += 1
                pool.in_flight += 1

    def _collect(self, ref: Any, job: J, pool: Pool, replica: Replica) -> None:
        import ray

        try:
            table = ray.get(ref)
        except ray.exceptions.RayActorError as e:
            # Ray already restarted the replica and retried this call as often as allowed.
            replica.alive = False
            self.events("replica_died", job.id, replica=pool.replicas.index(replica))
            self._retry(job, pool, _one_line(e))
            return
        except ray.exceptions.RayTaskError as e:
            self._retry(job, pool, _one_line(e))
            return
        try:
            self.on_result(job, with_prompts(job.task, table))
        except OSError as e:  # its rows came back but could not be written: not done
            self.failures.append(Failure(job.id, job.cell_id, job.attempts, f"not written: {e}"))
            raise
        self.events("done", job.id)

    def _retry(self, job: J, pool: Pool, error: str) -> None:
        job.attempts += 1
        if job.attempts > self.max_retries:
            self._fail(job, error)
        else:
            self.events("retry", job.id, error=error)
            pool.pending.appendleft(job)

    def _fail(self, job: J, error: str) -> None:
        self.events("failed", job.id, error=error)
        self.failures.append(Failure(job.id, job.cell_id, attempts=job.attempts, error=error))

    def _stop(self, pool: Pool) -> None:
        self.shared.stop(pool)

    def shutdown(self) -> None:
        """Stop this scheduler's pools, but hand over shared ones that are still needed."""
        for pool in self.pools.values():
            if not pool.stopped and not (self.handover and self.needed(pool.key)):
                self._stop(pool)


def _one_line(error: BaseException) -> str:
    """The root cause of a Ray error as one line (Ray's text carries whole tracebacks)."""
    cause = getattr(error, "cause", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"[:500]
