"""A study defined outside the engine, for tests: the user turn is the variant's name and
the dataset item, in capitals; its report section counts rows per cell. Run with
`study.name=tests.studies.shouting`; no file under orchestrator/ names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from analysis.report import Report, prompted_sections
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext, StudyRun
from orchestrator.datasets import Prompt
from orchestrator.generation import GenerationRun
from orchestrator.studies import Message


class ShoutingStudy:
    name = "shouting"
    columns = ()  # none of its own

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        return {"shouting": cfg.prompt_variant.name}  # its messages read nothing else

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        text = f"{cfg.prompt_variant.name}: {prompt.text}"
        return [{"role": "user", "content": text.upper()}]

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        return {"prompt_variant": cfg.prompt_variant.name}

    def runner(self, ctx: RunContext) -> StudyRun:
        return GenerationRun(ctx)

    def report_rows(self, sweep_dir: Path) -> str:
        return "results"

    def sections(self, sweep_dir: Path, rows: pa.Table, report: Report) -> None:
        prompted_sections(rows, report)
        counts = rows.group_by("cell_id").aggregate([("prompt_id", "count")])
        report.tables["shouted"] = counts.rename_columns(["cell_id", "rows"])


STUDY = ShoutingStudy()
