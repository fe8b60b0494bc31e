"""The shared resources of one invocation, opened on first use and always released.

Generation and the judge stage both need Ray, the engine pools and the W&B run; none is
opened when there is nothing to do (a finished sweep re-run prints its table in a second,
with no cluster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator import cluster
from orchestrator.config.schema import RootConfig
from orchestrator.pools import EnginePools
from orchestrator.tracker import RunSpec, Tracker, make_tracker


class Session:
    def __init__(self, root: RootConfig, sweep_dir: Path, cfg_dict: Any) -> None:
        self.root, self.sweep_dir, self.cfg_dict = root, sweep_dir, cfg_dict
        self._device: str | None = None
        self._owns_ray = False
        self._tracker: Tracker | None = None
        # Every scheduler of this invocation shares these: a model loaded for one stage
        # serves the next that needs it (generation, then a judge that is the same model).
        self.pools = EnginePools()

    def device(self) -> str:
        """Connect to Ray (once) and say which device the engines use."""
        if self._device is None:
            self._owns_ray = cluster.connect(self.root.ray, self.sweep_dir)
            device = self.root.engine.device
            if device == "auto":
                device = "cuda" if cluster.has_gpus() else "cpu"
            self._device = device
        return self._device

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            spec = RunSpec(self.root.sweep.name, {"config": self.cfg_dict}, self.sweep_dir)
            self._tracker = make_tracker(self.root.tracker, spec)
        return self._tracker

    def job_tracker(self, name: str, job_type: str, config: dict[str, Any]) -> Tracker:
        """A run of its own for one job (a training job's loss curve and adapter)."""
        spec = RunSpec(self.root.sweep.name, config, self.sweep_dir, job_type, name)
        return make_tracker(self.root.tracker, spec)

    @property
    def tracking(self) -> bool:
        return self._tracker is not None

    def close(self) -> None:
        if self._device is not None:
            self.pools.stop_all()
        if self._tracker is not None:
            self._tracker.finish()
            print(f"W&B: {self._tracker.where}")
        if self._owns_ray:
            cluster.shutdown()
