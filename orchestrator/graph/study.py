"""`GraphRun`: the `StudyRun` of a study whose cells are stage graphs. The study gives the
nodes of its cells (`plan`); everything else (status, resume, failures, engine reuse) is
the runner's. A new study needs no runner of its own."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from analysis.summary import format_table
from orchestrator.context import RunContext
from orchestrator.graph.node import Node
from orchestrator.graph.runner import GraphReport, GraphRunner, stage_lines
from orchestrator.progress import clock

Plan = Callable[[RunContext], list[Node]]


def stage_table(ctx: RunContext, nodes: list[Node]) -> str:
    """Per stage: nodes done and to do (reads the disk, runs nothing)."""
    todo = {n.id for n in GraphRunner(ctx, nodes).todo()}
    total, left = Counter[str](), Counter[str]()
    for node in {n.id: n for n in nodes}.values():
        total[node.stage] += 1
        left[node.stage] += node.id in todo
    rows = [{"stage": s, "nodes": total[s], "done": total[s] - left[s]} for s in total]
    return format_table(pa.Table.from_pylist(rows))


def launches(nodes: list[Node]) -> str:
    """A dry run's account of the nodes another system trains (an rl node run by verl)."""
    return "".join(
        launch_text(n.stage, n.id, n.launch) for n in {n.id: n for n in nodes if n.launch}.values()
    )


def launch_text(stage: str, node: str, command: str) -> str:
    return f"\n{stage} node {node} runs on another trainer, as:\n{command}\n"


class GraphRun:
    modes: tuple[str, ...] = ()

    def __init__(self, ctx: RunContext, plan: Plan) -> None:
        self.ctx, self.plan = ctx, plan
        self.nodes: list[Node] = []

    def status(self, dry: bool) -> str:
        """Per stage: nodes done and to do (reads the disk, runs nothing)."""
        nodes = self.plan(self.ctx)
        text = f"sweep '{self.ctx.root.sweep.name}': {len(self.ctx.cells)} cells\n"
        text += stage_table(self.ctx, nodes)
        return f"{text}{launches(nodes)}\ndry run: nothing submitted" if dry else text

    def check(self) -> None:
        self.nodes = self.plan(self.ctx)  # every node's id and inputs, before anything runs

    def grid_ids(self) -> list[str]:
        return sorted(c.id for c in self.ctx.cells)

    def run(self) -> bool:
        ctx, report = self.ctx, self.ctx.report
        started = time.monotonic()
        runner = GraphRunner(ctx, self.nodes)
        graph = runner.report
        report.stages = self.stages(graph)
        try:
            runner.run()
            print(stage_lines(graph, started), flush=True)
            return self.measure(graph)
        finally:  # also on Ctrl-C and SIGTERM: the interrupted nodes are failures too
            report.failures += graph.failures
            report.seconds = time.monotonic() - started

    def stages(self, graph: GraphReport) -> Any:
        """What `RunReport.stages` holds for this study (tests read it): the graph's report."""
        return graph

    def measure(self, graph: GraphReport) -> bool:
        """The study's metrics once the graph ran (into `report.metrics`); True when there
        are rows worth a report. Here: whether any node wrote rows."""
        writes_rows = {n.id for n in self.nodes if n.spec.output == "rows"}
        return any(i in writes_rows for ids in graph.ran.values() for i in ids)

    def finish(self) -> None:
        """Task nodes logged their own runs; nothing is left to log."""

    def summary(self) -> str:
        report = self.ctx.report
        lines = [] if report.metrics is None else [format_table(report.metrics)]
        lines.append(
            f"done in {clock(report.seconds)}, {len(report.failures)} failed; "
            f"results: {self.ctx.store.root}"
        )
        return "\n".join(lines)
