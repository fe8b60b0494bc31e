"""Trackers mirror progress to an outside service; the driver is their only writer.

Parquet is the truth and W&B a mirror: a tracker is never read back, and any error inside
one is reported once and switches it off; it never stops a sweep or loses a row.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from orchestrator.config.groups import TrackerConfig
from orchestrator.errors import UserError, did_you_mean


@dataclass(frozen=True)
class RunSpec:
    """Which run a tracker opens: the sweep's (job_type "sweep") or one job's ("train")."""

    sweep: str  # the group
    config: dict[str, Any]
    folder: Path  # where an offline run is written
    job_type: str = "sweep"
    name: str | None = None


class Tracker(Protocol):
    where: str

    def log(self, metrics: dict[str, Any]) -> None: ...

    def table(self, key: str, table: pa.Table) -> None: ...

    def artifact(self, name: str, kind: str, folder: Path) -> None: ...

    def image(self, key: str, path: Path) -> None: ...

    def finish(self) -> None: ...


class NoTracker:
    where = "off (tracker=none)"

    def log(self, metrics: dict[str, Any]) -> None:
        pass

    def table(self, key: str, table: pa.Table) -> None:
        pass

    def artifact(self, name: str, kind: str, folder: Path) -> None:
        pass

    def image(self, key: str, path: Path) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbTracker:
    """One W&B run per sweep invocation (job_type "sweep") and one per training job
    (job_type "train"), grouped by sweep name."""

    def __init__(self, cfg: TrackerConfig, spec: RunSpec) -> None:
        self.run: Any = None
        self.where = "skipped"
        mode = (
            cfg.mode
            or os.environ.get("WANDB_MODE")
            or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        )
        self._guard("start", lambda: self._start(cfg, spec, mode))

    def _start(self, cfg: TrackerConfig, spec: RunSpec, mode: str) -> None:
        import wandb

        folder = spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=spec.sweep,
            job_type=spec.job_type,
            name=spec.name,
            config=spec.config,
            dir=str(folder),
            mode=mode,  # type: ignore[arg-type]
            # A training job's run is open while the sweep's run is: both at once.
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
        if mode == "offline":
            local = self.run.dir.rsplit("/files", 1)[0]
            self.where = f"offline in {local} (upload later: wandb sync {local})"
        else:
            self.where = str(getattr(self.run, "url", None) or mode)

    def _guard(self, what: str, action: Callable[[], None]) -> None:
        if what != "start" and self.run is None:
            return
        try:
            action()
        except Exception as e:
            print(
                f"W&B {what} failed, W&B skipped for this run: {e}".splitlines()[0], file=sys.stderr
            )
            self.where = f"skipped ({type(e).__name__})"
            self.run = None

    def log(self, metrics: dict[str, Any]) -> None:
        self._guard("log", lambda: self.run.log(metrics))

    def table(self, key: str, table: pa.Table) -> None:
        def log_table() -> None:
            import wandb

            columns: list[str | int] = list(table.column_names)
            data = [list(row.values()) for row in table.to_pylist()]
            self.run.log({key: wandb.Table(columns=columns, data=data)})

        self._guard(f"{key} table", log_table)

    def artifact(self, name: str, kind: str, folder: Path) -> None:
        def log_artifact() -> None:
            import wandb

            artifact = wandb.Artifact(name, type=kind)
            artifact.add_dir(str(folder))
            self.run.log_artifact(artifact)

        self._guard(f"{name} artifact", log_artifact)

    def image(self, key: str, path: Path) -> None:
        def log_image() -> None:
            import wandb

            self.run.log({key: wandb.Image(str(path))})

        self._guard(f"{key} image", log_image)

    def finish(self) -> None:
        self._guard("finish", lambda: self.run.finish())


TRACKERS: dict[str, Callable[[TrackerConfig, RunSpec], Tracker]] = {
    "wandb": WandbTracker,
    "none": lambda cfg, spec: NoTracker(),
}


WANDB_MODES = ("online", "offline", "disabled")


def check_tracker(cfg: TrackerConfig) -> None:
    """W&B settings that would only fail once jobs run (and then switch W&B off for the
    whole sweep) are refused before anything starts."""
    if cfg.name not in TRACKERS:
        raise UserError(f"tracker.name={cfg.name!r} is unknown{did_you_mean(cfg.name, TRACKERS)}")
    if cfg.name != "wandb":
        return
    mode = cfg.mode or os.environ.get("WANDB_MODE")
    where = "tracker.mode" if cfg.mode else "$WANDB_MODE"
    if mode is not None and mode not in WANDB_MODES:
        raise UserError(
            f"{where}={mode!r} is not a W&B mode: use online, offline or disabled (or tracker=none)"
        )
    if mode == "online" and not os.environ.get("WANDB_API_KEY") and not _wandb_login():
        raise UserError(
            f"{where}=online needs a W&B login: set $WANDB_API_KEY or run `wandb login`, "
            "or use tracker.mode=offline (upload later with `wandb sync`)"
        )


def _wandb_login() -> bool:
    """`wandb login` stores the key in ~/.netrc (or $NETRC)."""
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "wandb" in netrc.read_text(errors="ignore")


def make_tracker(cfg: TrackerConfig, spec: RunSpec) -> Tracker:
    if cfg.name not in TRACKERS:
        raise UserError(f"tracker.name={cfg.name!r} is unknown{did_you_mean(cfg.name, TRACKERS)}")
    return TRACKERS[cfg.name](cfg, spec)
