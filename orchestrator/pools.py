"""Engine pools: the replicas that serve one model with one set of engine settings. Every
job whose config maps to the same pool key goes to the same pool, whatever its stage."""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from jobs.engines import EngineSettings
from orchestrator.config.schema import RootConfig
from orchestrator.ids import stable_hash
from orchestrator.workers import (
    SECRET_ENV,
    engine_kind,
    engine_settings,
    hosted_secrets,
    shards_in_flight,
    worker_env,
    worker_secrets,
)


@dataclass
class Replica:
    handle: Any
    load: int = 0
    alive: bool = True


@dataclass
class Pool:
    """The replicas serving one model with one set of engine settings."""

    key: str
    label: str
    replicas: list[Replica]
    limit: int
    cpus: float  # what each replica holds on its node
    pending: deque[Any] = field(default_factory=deque)
    in_flight: int = 0
    stopped: bool = False
    # Each replica's placement() call, answered once its engine is up.
    placing: list[Any] = field(default_factory=list)
    # A scheduler counts a pool's load once (an engine_load event), when it first uses it:
    # a pool started while the driver plans is counted by the scheduler that takes it.
    counted: bool = False
    started: float = field(default_factory=time.time)  # when its replicas were asked for

    @property
    def idle(self) -> bool:
        return not self.pending and self.in_flight == 0


def pool_key(cfg: RootConfig, device: str, model_path: str) -> str:
    """Which pool serves a job of this config: its engine and the settings it loads with."""
    return _key(cfg, engine_settings(cfg, device, model_path))


def _key(cfg: RootConfig, settings: EngineSettings) -> str:
    return stable_hash([engine_kind(cfg), settings.__dict__])


class EnginePools:
    """The live pools of one invocation, shared by every scheduler it makes. A scheduler
    that ends hands over the pools a later stage still needs (a judge that is the model
    under test) instead of stopping them; the session stops whatever is left."""

    def __init__(self) -> None:
        self.live: dict[str, Pool] = {}

    def get(self, key: str) -> Pool | None:
        pool = self.live.get(key)
        return pool if pool is not None and not pool.stopped else None

    def start(self, cfg: RootConfig, device: str, cache: str, *, model_path: str) -> Pool:
        """Start the replicas of the pool that serves `cfg`'s jobs (their engines load in
        the background: Ray creates an actor without waiting for its constructor)."""
        import ray

        from jobs.generate import GenerationWorker

        settings = engine_settings(cfg, device, model_path)
        actor = ray.remote(GenerationWorker)
        options = dict(
            # a hosted model runs elsewhere: its engine only sends requests
            num_gpus=settings.tensor_parallel_size
            if device == "cuda" and not settings.hosted
            else 0,
            num_cpus=cfg.engine.num_cpus,
            max_restarts=cfg.engine.max_restarts,
            max_task_retries=cfg.engine.max_restarts,
            # One thread per in-flight shard, plus one so pid() answers while all are busy.
            max_concurrency=shards_in_flight(cfg) + 1,
            runtime_env={"env_vars": worker_env(cfg, device, cache)},
            scheduling_strategy="SPREAD",  # replicas of a model on different nodes
        )
        # Named, so `ray list actors` (and the fault tests) can find a sweep's engines.
        token = uuid.uuid4().hex[:6]
        names = [
            f"mosweep:{cfg.sweep.name}:{cfg.model.name}:{i}:{token}"
            for i in range(cfg.engine.replicas)
        ]
        secrets = worker_secrets(SECRET_ENV + hosted_secrets(cfg))
        replicas = [
            Replica(actor.options(**options, name=name).remote(engine_kind(cfg), settings, secrets))
            for name in names
        ]
        key = _key(cfg, settings)
        pool = Pool(key, cfg.model.name, replicas, shards_in_flight(cfg), cfg.engine.num_cpus)
        pool.placing = [replica.handle.placement.remote() for replica in replicas]
        self.live[key] = pool
        return pool

    def stop(self, pool: Pool) -> None:
        import ray

        for replica in pool.replicas:
            ray.kill(replica.handle, no_restart=True)
            replica.alive = False
        pool.stopped = True
        self.live.pop(pool.key, None)

    def stop_all(self) -> None:
        for pool in list(self.live.values()):
            self.stop(pool)
