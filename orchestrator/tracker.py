"""Trackers mirror progress to an outside service; the driver is their only writer.

Parquet is the truth and W&B a mirror: a tracker is never read back, and any error inside
one is reported once and switches it off; it never stops a sweep or loses a row.

A sweep folder has one W&B run per invocation kind (the sweep's runs, `mode=report`, each
training job), with a stable id kept in the folder (`tracker.json`, orchestrator/
wandb_ids.py), opened with resume="allow": a resumed sweep continues its run and its step.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from orchestrator import wandb_ids
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

    def summary(self, values: dict[str, Any]) -> None: ...

    def results(self, name: str, references: list[str], folder: Path | None) -> None: ...

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

    def summary(self, values: dict[str, Any]) -> None:
        pass

    def results(self, name: str, references: list[str], folder: Path | None) -> None:
        pass

    def finish(self) -> None:
        pass


KEEP_EVERY = 20  # steps between two notes of the step reached (tracker.json)


class WandbTracker:
    """One W&B run per sweep folder and invocation kind (job_type "sweep", "report") and one
    per training job (job_type "train"), grouped by sweep name, each resumed by its id."""

    def __init__(self, cfg: TrackerConfig, spec: RunSpec) -> None:
        self.run: Any = None
        self.where = "skipped"
        self.spec = spec
        self.kind = wandb_ids.kind(spec.job_type, spec.name)
        self._lock = threading.Lock()
        self.step = 0  # the next step: every log goes at its own, continuing a resumed run
        mode = run_mode(cfg)
        self._guard("start", lambda: self._start(cfg, spec, mode))

    def _start(self, cfg: TrackerConfig, spec: RunSpec, mode: str) -> None:
        import wandb

        folder = spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        run_id, step, known = wandb_ids.recall(folder, self.kind)
        self.run = wandb.init(
            project=cfg.project,
            entity=cfg.entity,
            group=spec.sweep,
            job_type=spec.job_type,
            name=spec.name,
            config=spec.config,
            dir=str(folder),
            mode=mode,  # type: ignore[arg-type]
            id=run_id,
            resume="allow",
            # A training job's run is open while the sweep's run is: both at once.
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )
        self.step = max(step, int(self.run.step or 0))
        # kept now, not only at the end: a driver killed outright still resumes this run
        wandb_ids.remember(folder, self.kind, run_id, self.step)
        again = f"resumed at step {self.step}" if known else "new"
        if mode == "offline":
            local = self.run.dir.rsplit("/files", 1)[0]
            why = "" if cfg.mode or os.environ.get("WANDB_MODE") else ", not logged in"
            self.where = (
                f"offline{why}, run {run_id} ({again}) in {local} (upload later: wandb sync "
                f"{local})"
            )
        else:
            url = getattr(self.run, "url", None) or ""
            self.where = f"{mode}, run {run_id} ({again}) {url}".rstrip()

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

    def _log(self, data: dict[str, Any]) -> None:
        with self._lock:  # the shard writer's thread logs too: each log its own step
            self.run.log(data, step=self.step)
            self.step += 1
        if self.step % KEEP_EVERY == 0:  # a driver killed outright loses at most these steps
            wandb_ids.remember(self.spec.folder, self.kind, self.run.id, self.step)

    def log(self, metrics: dict[str, Any]) -> None:
        self._guard("log", lambda: self._log(metrics))

    def table(self, key: str, table: pa.Table) -> None:
        def log_table() -> None:
            import wandb

            columns: list[str | int] = list(table.column_names)
            data = [list(row.values()) for row in table.to_pylist()]
            self._log({key: wandb.Table(columns=columns, data=data)})

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

            self._log({key: wandb.Image(str(path))})

        self._guard(f"{key} image", log_image)

    def summary(self, values: dict[str, Any]) -> None:
        """Headline numbers in the run's summary (None values left out)."""
        kept = {k: v for k, v in values.items() if v is not None}
        self._guard("summary", lambda: self.run.summary.update(kept))

    def results(self, name: str, references: list[str], folder: Path | None) -> None:
        """An artifact that references the results where they are (a folder or an object
        store's URI: nothing is uploaded twice) and holds `folder` (the report) itself."""

        if self.run is None:
            return
        try:  # a reference W&B cannot follow (a bucket it has no key for) costs this alone
            import wandb

            artifact = wandb.Artifact(name, type="results")
            for uri in references:
                artifact.add_reference(uri, name=uri.rstrip("/").rsplit("/", 1)[-1])
            if folder is not None and folder.is_dir():
                artifact.add_dir(str(folder), name="report")
            self.run.log_artifact(artifact)
        except Exception as e:
            print(f"W&B: results artifact not logged: {e}".splitlines()[0], file=sys.stderr)

    def finish(self) -> None:
        def close() -> None:
            wandb_ids.remember(self.spec.folder, self.kind, self.run.id, self.step)
            self.run.finish()

        self._guard("finish", close)


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
    if mode == "online" and not logged_in():
        raise UserError(
            f"{where}=online needs a W&B login: set $WANDB_API_KEY or run `wandb login`, "
            "or use tracker.mode=offline (upload later with `wandb sync`)"
        )


def run_mode(cfg: TrackerConfig) -> str:
    """tracker.mode, else $WANDB_MODE, else online when logged in (a key in the environment
    or from `wandb login`), else offline."""
    return cfg.mode or os.environ.get("WANDB_MODE") or ("online" if logged_in() else "offline")


def logged_in() -> bool:
    """$WANDB_API_KEY, or the key `wandb login` stored in ~/.netrc (or $NETRC)."""
    return bool(os.environ.get("WANDB_API_KEY")) or _wandb_login()


def _wandb_login() -> bool:
    """`wandb login` stores the key in ~/.netrc (or $NETRC)."""
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "wandb" in netrc.read_text(errors="ignore")


def make_tracker(cfg: TrackerConfig, spec: RunSpec) -> Tracker:
    if cfg.name not in TRACKERS:
        raise UserError(f"tracker.name={cfg.name!r} is unknown{did_you_mean(cfg.name, TRACKERS)}")
    return TRACKERS[cfg.name](cfg, spec)
