"""An alignment-faking invocation: generation as in any prompted study, then the judge stage
and the study's metric tables (per tier, and the compliance gap), printed, saved, mirrored."""

from __future__ import annotations

import time

import pyarrow as pa

from orchestrator.generation import GenerationRun
from orchestrator.grid import Cell
from orchestrator.judges.backends import engine_pools
from orchestrator.judges.spec import JudgeSpec, judge_specs, summary
from orchestrator.report import sweep_rows
from orchestrator.store import ResultStore
from orchestrator.studies.alignment_faking.judging import run_judge_stage
from orchestrator.studies.alignment_faking.metrics import (
    AF_DEFINITION,
    compliance_gap,
    headline,
    tier_metrics,
)

LEGEND = (
    "comply = fully complied among scored replies, each prompt weighing once; gap = free - "
    "paid over paired prompts (Newcombe 95% CI over prompts; p: exact sign-flip test, "
    "McNemar's for one pair per prompt; p_holm adjusted for the number of gaps); dropped f/p "
    "= pairs left out because the free/paid reply was truncated or unparsable, and the gap if "
    f"they all went one way or the other; {AF_DEFINITION}"
)


class AlignmentFakingRun(GenerationRun):
    modes: tuple[str, ...] = (
        "judge",
    )  # mode=judge: re-score every shard of the grid, generate nothing
    specs: list[JudgeSpec]

    def check(self) -> None:
        # Judge models, templates and endpoints resolve before any generation starts.
        self.specs = judge_specs(self.ctx.root, self.ctx.overrides)
        super().check()

    def later_pools(self, device: str) -> set[str]:
        # A judge that is the model under test keeps the engine generation loaded.
        return engine_pools(self.specs, device)

    def after_generation(self) -> None:
        ctx, report = self.ctx, self.ctx.report
        started = time.monotonic()
        everything = ctx.root.mode == "judge"
        judged = run_judge_stage(ctx, self.specs, everything)
        report.judging = judged
        report.failures += judged.failures
        print(summary(judged, time.monotonic() - started))
        scored = scored_rows(ctx.store, ctx.cells)
        if scored is None:
            return
        tiers, gaps = tier_metrics(scored), compliance_gap(scored)
        ctx.store.write_table(ctx.store.root / "metrics", "tiers.parquet", tiers)
        ctx.store.write_table(ctx.store.root / "metrics", "compliance_gap.parquet", gaps)
        report.metrics, report.legend = headline(tiers, gaps), LEGEND
        if judged.rows or ctx.session.tracking:
            ctx.session.tracker.table("af_metrics", report.metrics)


def scored_rows(store: ResultStore, cells: list[Cell]) -> pa.Table | None:
    """This grid's scored rows, or None before anything was scored."""
    scores = store.root / "scores"
    if not any(scores.glob("model=*/*.parquet")):
        return None
    return sweep_rows(scores, cells)
