"""What one invocation shares between its stages: `RunContext`, and the `StudyRun` a study
returns to run its cells (orchestrator/run.py calls it in the same order for every study)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from omegaconf import DictConfig

from orchestrator.config.schema import RootConfig
from orchestrator.grid import Cell
from orchestrator.report import RunReport
from orchestrator.session import Session
from orchestrator.store import ResultStore


@dataclass
class RunContext:
    """One invocation: the config, this grid's cells, where results go, what was done so far
    (`report`), and the session that connects to Ray and W&B when first asked."""

    root: RootConfig
    cfg: DictConfig  # as composed, written to config.yaml
    overrides: list[str]  # the command line (judge models are composed from it)
    cells: list[Cell]
    store: ResultStore
    report: RunReport
    session: Session


class StudyRun(Protocol):
    """A study's cells in one invocation. run.py calls `status` (mode=status, dry) or
    `check`, then writes config.yaml, then `run`, `finish` and prints `summary`."""

    modes: tuple[str, ...]  # invocation modes beyond run/dry/status it supports (e.g. judge)

    def status(self, dry: bool) -> str:
        """What is done and what would run; runs nothing."""

    def check(self) -> None:
        """Everything that can be wrong before any job starts (one-line UserError)."""

    def grid_ids(self) -> list[str]:
        """The cell ids of this grid's rows: the report counts these and lists the others."""

    def run(self) -> bool:
        """Every stage; True when rows were written or scored (a report is worth building)."""

    def finish(self) -> None:
        """Last words to the tracker (sample tables), before the session closes."""

    def summary(self) -> str:
        """The table and lines printed at the end."""
