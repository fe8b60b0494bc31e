"""Engine pools: the replicas that serve one model with one set of engine settings. Every
job whose config maps to the same pool key goes to the same pool, whatever its stage."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config.schema import RootConfig
from orchestrator.ids import stable_hash
from orchestrator.workers import engine_kind, engine_settings


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

    @property
    def idle(self) -> bool:
        return not self.pending and self.in_flight == 0


def pool_key(cfg: RootConfig, device: str, model_path: str) -> str:
    """Which pool serves a job of this config: its engine and the settings it loads with."""
    settings = engine_settings(cfg, device, model_path)
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

    def add(self, pool: Pool) -> None:
        self.live[pool.key] = pool

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
