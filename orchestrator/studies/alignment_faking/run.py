"""An alignment-faking invocation: one stage graph of any training (fine-tuning on
documents, RL, the fact-recall probe), the generation shards (a fine-tuned cell's waiting
on its adapter) and each shard file's judging (judge_nodes.py); then the study's metric
tables (per tier, the compliance gap, fact recall), printed, saved, mirrored."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.summary import format_table
from orchestrator.generation import GenerationRun, shard_nodes
from orchestrator.graph.node import Node
from orchestrator.graph.runner import GraphReport, stage_lines
from orchestrator.graph.study import launches, stage_table
from orchestrator.grid import Cell
from orchestrator.judges.spec import JudgeReport, JudgeSpec, judge_specs, summary
from orchestrator.plan import Prepared
from orchestrator.report import sweep_rows
from orchestrator.store import ResultStore
from orchestrator.studies.alignment_faking import probe
from orchestrator.studies.alignment_faking.config import settings
from orchestrator.studies.alignment_faking.gap import compliance_gap
from orchestrator.studies.alignment_faking.judge_nodes import Judging
from orchestrator.studies.alignment_faking.judging import record_judges
from orchestrator.studies.alignment_faking.metrics import (
    AF_DEFINITION,
    READ,
    tier_metrics,
)
from orchestrator.studies.alignment_faking.summary import headline, summary_values
from orchestrator.studies.alignment_faking.training import TrainingNodes

LEGEND = (
    "comply = fully complied among scored replies, each prompt weighing once; gap = free - "
    "paid over paired prompts (Newcombe 95% CI over prompts; p: sign-flip test, McNemar's "
    "exact for one pair per prompt, normal approximation past about a thousand prompts of "
    "several samples; p_holm adjusted for the number of gaps); dropped f/p "
    "= pairs left out because the free/paid reply was truncated or unparsable, and the gap if "
    "they all went one way or the other; api_refused = replies a hosted API's content policy "
    f"stopped (the provider refused, not the model); judge = who decided the outcome (the "
    "compliance judge's model; phrase tables: the known-answer controls' judge, which reads "
    f"fixed phrases, not meaning; rules: tags and refusal phrases); {AF_DEFINITION}"
)


class AlignmentFakingRun(GenerationRun):
    modes: tuple[str, ...] = (
        "judge",
    )  # mode=judge: re-score every shard of the grid, generate nothing
    specs: list[JudgeSpec]
    training: TrainingNodes
    recall: pa.Table | None = None
    judging: Judging | None = None  # this run's judging nodes' state, until they are done
    judged: JudgeReport | None = None  # what it did, once done
    judging_s = 0.0

    def check(self) -> None:
        # Judge models, templates and endpoints resolve before any generation starts, and
        # every training node's id and corpus before anything runs.
        self.specs = judge_specs(self.ctx.root, self.ctx.overrides)
        self.training = TrainingNodes(self.ctx)
        super().check()

    def trained(self) -> dict[str, str]:
        return self.training.adapters()

    def status(self, dry: bool) -> str:
        text = super().status(dry)
        nodes = TrainingNodes(self.ctx, prepare=False).nodes
        trainers = launches(nodes) if dry else ""
        return f"{stage_table(self.ctx, nodes)}{trainers}\n{text}" if nodes else text

    def nodes(self, prepared: Prepared) -> list[Node]:
        """The training and probe nodes, the shards and their judging, one graph: a
        fine-tuned cell's shards wait on its adapter's node (a failed fine-tune leaves them
        for the next run), while other cells generate meanwhile; a shard file is judged as
        soon as it is written. mode=judge: the judging of every shard file, nothing else."""
        self.judging = Judging(self.ctx, self.specs)
        if self.ctx.root.mode == "judge":
            return self.judging.nodes([])
        shards = shard_nodes(prepared, self.training.trained)
        return [*self.training.nodes, *shards, *self.judging.nodes(prepared.shards)]

    def generate(self, nodes: list[Node]) -> None:
        """Training, generation and judging, one graph."""
        started = time.monotonic()
        assert self.judging is not None, "nodes() first"
        record_judges(self.ctx, self.specs, 0)  # before the first scores file
        try:
            super().generate(nodes)
        finally:
            self.judging_done()
        graph: GraphReport = self.ctx.report.stages
        if any(stage not in ("generate", "judge", "score") for stage in graph.ran):
            print(stage_lines(graph, started), flush=True)
        shards = {s.id: s.cell.id for s in self.prepared.shards} if self.prepared else {}
        waiting = [node for node in graph.blocked if node in shards]
        if waiting:
            print(
                f"{len(waiting)} shards of {len({shards[n] for n in waiting})} cells wait for "
                "their fine-tune, which failed (failed_shards.json): re-run the same command"
            )

    def after_generation(self) -> None:
        ctx, report = self.ctx, self.ctx.report
        self.judging_done()
        judged = self.judged or JudgeReport()
        if judged.files:
            record_judges(ctx, self.specs, judged.failed_rows)
        report.judging = judged
        report.failures += judged.failures
        print(summary(judged, self.judging_s))
        self.measure_recall()
        scored = scored_rows(ctx.store, ctx.cells)
        if scored is None:
            return
        tiers, gaps = tier_metrics(scored), compliance_gap(scored)
        ctx.store.write_table(ctx.store.root / "metrics", "tiers.parquet", tiers)
        ctx.store.write_table(ctx.store.root / "metrics", "compliance_gap.parquet", gaps)
        report.metrics, report.legend = headline(tiers, gaps), LEGEND
        if judged.rows or ctx.session.tracking:
            ctx.session.tracker.table("af_metrics", report.metrics)
            ctx.session.tracker.summary(summary_values(tiers, gaps))

    def judging_done(self) -> None:
        """Keep what judging did; let go of what it held (the requests' texts, the judge
        cache), which the metrics and the report after it do not read."""
        if self.judging is not None:
            self.judged, self.judging_s = self.judging.judged.report, self.judging.seconds()
            self.judging = None

    def measure_recall(self) -> None:
        """Fact recall of every probed model variant: saved, mirrored, kept for the summary."""
        ctx, out = self.ctx, []
        unique = {n.id: n for n in self.training.nodes}  # cells share their probe nodes
        for node in unique.values():
            files = ctx.store.shard_files({node.id}) if node.stage == "probe" else []
            if files:
                rows = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
                questions = probe.load_probe(settings(node.cell.config).probe)
                out.append(probe.variant_recall(rows, questions))
        if not out:
            return
        self.recall = pa.Table.from_pylist(out)
        ctx.store.write_table(ctx.store.root / "metrics", "fact_recall.parquet", self.recall)
        ctx.session.tracker.table("fact_recall", self.recall)

    def summary(self) -> str:
        text = super().summary()
        if self.recall is None:
            return text
        return f"{format_table(self.recall)}\n{probe.LEGEND}\n{text}"


def scored_rows(store: ResultStore, cells: list[Cell]) -> pa.Table | None:
    """This grid's scored rows, the columns the metrics read, the scratchpad as its length
    (not the texts: at 100,000 rows every column took 0.95 GiB, these 0.32 GiB), or None
    before anything was scored."""
    scores = store.root / "scores"
    if not any(scores.glob("model=*/*.parquet")):
        return None
    return sweep_rows(scores, cells, READ, lengths=("scratchpad",))
