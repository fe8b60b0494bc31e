"""The generation job: a Ray actor per model replica that holds one loaded engine.

The driver wraps this class with `ray.remote(...).options(...)` so that resources (GPUs =
tensor parallel size), restarts and concurrency come from config, never literals here.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pyarrow as pa

from jobs.engines import EngineSettings, make_engine
from jobs.rows import ShardTask, shard_table

# Fault injection (tests/faults): a shard holding a request whose text contains this
# variable's value raises on every attempt, whatever the engine. Unset in normal use.
POISON_ENV = "MOSWEEP_FAULT_POISON"


class GenerationWorker:
    """Serves every shard of one model; many shard calls run at once (a threaded actor)."""

    def __init__(
        self, engine: str, settings: EngineSettings, secrets: dict[str, str] | None = None
    ) -> None:
        # torch warns once per process that Triton is missing: expected on CPU, and it would
        # reach the driver's terminal through Ray.
        logging.getLogger("torch._library.triton").setLevel(logging.ERROR)
        # Hub credentials come as an argument, never through runtime_env (Ray logs those).
        os.environ.update(secrets or {})
        self.engine = make_engine(engine, settings)

    def run_shard(self, task: ShardTask) -> pa.Table:
        poison = os.environ.get(POISON_ENV)
        if poison and any(poison in r.text for r in task.requests):
            raise ValueError(f"shard {task.shard_id} holds a poisoned prompt ({POISON_ENV})")
        completions = self.engine.submit(task.requests, task.sampling).result()
        return shard_table(task, completions, self.engine.version)

    def placement(self) -> dict[str, Any]:
        """Where this replica runs: its node and the GPU ids Ray gave it (the event log)."""
        import ray

        context = ray.get_runtime_context()
        return {"node": context.get_node_id(), "gpus": [str(g) for g in ray.get_gpu_ids()]}

    def pid(self) -> int:
        """The worker process id: fault-injection tests kill it."""
        return os.getpid()
