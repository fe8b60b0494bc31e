"""Schedule shards on Ray: one pool of engine replicas per model, many shards in flight.

Each pool holds `engine.replicas` actors, each with a loaded engine, requesting
`tensor_parallel_size` GPUs (none on CPU). A model never loads twice: every shard of that
model goes to its pool. Failures are handled at two levels:
- a replica's process dies: Ray restarts it and re-runs its in-flight calls
  (`max_restarts`, `max_task_retries`);
- a shard's job raises: the driver re-queues it up to `max_retries` times, then records it
  as failed and the sweep goes on.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pyarrow as pa

from jobs.engines import EngineSettings
from jobs.rows import ShardTask
from orchestrator.config.schema import RootConfig
from orchestrator.events import EventLog
from orchestrator.ids import stable_hash
from orchestrator.models.adapters import adapter_rank, servable_rank
from orchestrator.plan import max_model_len

# The hub's cache location, and the fault suite's poisoned-prompt switch (jobs/generate.py):
# from the driver to the engines through Ray's runtime_env.
FORWARDED_ENV = ("HF_HOME", "HF_ENDPOINT", "MOSWEEP_FAULT_POISON")
# Hub credentials for gated models (Llama). Never in a runtime_env: Ray's runtime-env agent
# writes those into its session logs. They travel as an argument of the engine or training
# job instead, which sets them in its own process (jobs/generate.py, jobs/finetune.py).
SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def worker_secrets() -> dict[str, str]:
    """The driver's hub credentials, for the workers (kept out of every log and file)."""
    return {name: os.environ[name] for name in SECRET_ENV if os.environ.get(name)}


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


def engine_settings(cfg: RootConfig, device: str, model_path: str) -> EngineSettings:
    on_cpu = device == "cpu"
    return EngineSettings(
        model_path=model_path,
        device=device,
        dtype=cfg.engine.cpu_dtype if on_cpu else (cfg.engine.dtype or cfg.model.dtype),
        max_model_len=max_model_len(cfg),
        tensor_parallel_size=1
        if on_cpu
        else (cfg.engine.tensor_parallel_size or cfg.model.tensor_parallel_size),
        # CPU: eager and in-process start in seconds; compiled mode takes about a minute.
        enforce_eager=cfg.engine.enforce_eager or on_cpu,
        enable_prefix_caching=cfg.engine.enable_prefix_caching,
        gpu_memory_utilization=cfg.engine.gpu_memory_utilization,
        max_num_seqs=cfg.engine.max_num_seqs,
        # enough for the served adapter (model.adapter), if any, rounded up to a rank vLLM takes
        max_lora_rank=servable_rank(
            max(
                cfg.engine.max_lora_rank,
                adapter_rank(cfg.model.adapter) if cfg.model.adapter else 0,
            )
        ),
    )


def shards_in_flight(cfg: RootConfig) -> int:
    """Shards queued per replica: by default enough to keep 2 x max_num_seqs requests waiting,
    so the engine's batch is full at every step, shard boundaries included."""
    if cfg.engine.shards_in_flight:
        return cfg.engine.shards_in_flight
    return max(1, -(-2 * cfg.engine.max_num_seqs // cfg.shard_size))


def worker_env(cfg: RootConfig, device: str, cache: str) -> dict[str, str]:
    """Environment of the engine processes (Ray passes it through runtime_env)."""
    # Engine logs reach the driver's terminal through Ray: keep only errors there.
    env = {
        "VLLM_LOGGING_LEVEL": "ERROR",
        "TORCH_CPP_LOG_LEVEL": "ERROR",
        "PYTHONWARNINGS": "ignore",
        "TQDM_DISABLE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name in FORWARDED_ENV:  # workers on other nodes do not see the driver's shell
        if name in os.environ:
            env[name] = os.environ[name]
    if cfg.model.source != "hub":  # local weights: never wait on a hub that may be unreachable
        env["HF_HUB_OFFLINE"] = "1"
    if device == "cpu":
        env.update(
            {
                # The engine in the actor's own process: no extra process to spawn or orphan.
                "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
                "VLLM_CPU_KVCACHE_SPACE": str(cfg.engine.cpu_kvcache_gib),
                "VLLM_CACHE_ROOT": f"{cache}/vllm",
            }
        )
    return env


@dataclass
class Replica:
    handle: Any
    load: int = 0
    alive: bool = True


@dataclass
class Pool:
    """The replicas serving one model with one set of engine settings."""

    label: str
    replicas: list[Replica]
    limit: int
    pending: deque[Any] = field(default_factory=deque)
    in_flight: int = 0


class Scheduler(Generic[J]):
    def __init__(
        self,
        device: str,
        cache: str,
        on_result: Callable[[J, pa.Table], None],
        max_retries: int,
        events: EventLog | None = None,
    ) -> None:
        self.device = device
        self.cache = cache
        self.on_result = on_result
        self.max_retries = max_retries
        self.events = events or EventLog(None)
        self.pools: dict[str, Pool] = {}
        self.failures: list[Failure] = []
        self.placing: dict[Any, tuple[str, int]] = {}  # placement() call -> (model, replica)

    def add(self, job: J, model_path: str) -> None:
        cfg = job.config
        settings = engine_settings(cfg, self.device, model_path)
        key = stable_hash([cfg.engine.name, settings.__dict__])
        if key not in self.pools:
            self.pools[key] = self._start_pool(cfg, settings)
        self.pools[key].pending.append(job)

    def _start_pool(self, cfg: RootConfig, settings: EngineSettings) -> Pool:
        import ray

        from jobs.generate import GenerationWorker

        actor = ray.remote(GenerationWorker)
        options = dict(
            num_gpus=settings.tensor_parallel_size if self.device == "cuda" else 0,
            num_cpus=cfg.engine.num_cpus,
            max_restarts=cfg.engine.max_restarts,
            max_task_retries=cfg.engine.max_restarts,
            # One thread per in-flight shard, plus one so pid() answers while all are busy.
            max_concurrency=shards_in_flight(cfg) + 1,
            runtime_env={"env_vars": worker_env(cfg, self.device, self.cache)},
            scheduling_strategy="SPREAD",  # replicas of a model on different nodes
        )
        # Named, so `ray list actors` (and the fault tests) can find a sweep's engines.
        token = uuid.uuid4().hex[:6]
        names = [
            f"mosweep:{cfg.sweep.name}:{cfg.model.name}:{i}:{token}"
            for i in range(cfg.engine.replicas)
        ]
        replicas = [
            Replica(
                actor.options(**options, name=name).remote(
                    cfg.engine.name, settings, worker_secrets()
                )
            )
            for name in names
        ]
        for i, replica in enumerate(replicas):
            self.placing[replica.handle.placement.remote()] = (cfg.model.name, i)
        return Pool(label=cfg.model.name, replicas=replicas, limit=shards_in_flight(cfg))

    def run(self) -> list[Failure]:
        """Run every added job; returns the shards that failed after their retries."""

        in_flight: dict[Any, tuple[J, Pool, Replica]] = {}
        try:
            self._loop(in_flight)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: say what did not finish, then stop
            unfinished = [job for job, _, _ in in_flight.values()]
            unfinished += [job for pool in self.pools.values() for job in pool.pending]
            for job in unfinished:
                self.events("interrupted", job.id)
                self.failures.append(
                    Failure(job.id, job.cell_id, job.attempts, "interrupted before it finished")
                )
            raise
        return self.failures

    def _loop(self, in_flight: dict[Any, tuple[J, Pool, Replica]]) -> None:
        import ray

        while in_flight or any(pool.pending for pool in self.pools.values()):
            for pool in self.pools.values():
                self._fill(pool, in_flight)
            self._log_placements()
            if not in_flight:
                continue
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                job, pool, replica = in_flight.pop(ref)
                replica.load -= 1
                pool.in_flight -= 1
                self._collect(ref, job, pool, replica)
                if not pool.pending and pool.in_flight == 0:
                    self._stop(pool)  # free its GPUs for the models still waiting

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

    def _fill(self, pool: Pool, in_flight: dict[Any, tuple[J, Pool, Replica]]) -> None:
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
                in_flight[ref] = (job, pool, replica)
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
        self.on_result(job, table)
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
        import ray

        for replica in pool.replicas:
            ray.kill(replica.handle, no_restart=True)
            replica.alive = False

    def shutdown(self) -> None:
        for pool in self.pools.values():
            self._stop(pool)


def _one_line(error: BaseException) -> str:
    """The root cause of a Ray error as one line (Ray's text carries whole tracebacks)."""
    cause = getattr(error, "cause", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"[:500]
