"""The prompted alignment-faking study: a tier axis, and a judge stage after generation.

Free and paid copies of a request are two cells that differ only in `study.vars.tier`; they
share the dataset, so their rows share `prompt_id` and the compliance gap is paired. With
`study.finetune=documents` a cell's model is first fine-tuned on documents that state the
training facts (training.py), and a fact-recall probe shows what it learnt (probe.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError
from orchestrator.studies.alignment_faking.columns import COLUMNS, SCORED_COLUMNS
from orchestrator.studies.alignment_faking.config import AlignmentFakingConfig
from orchestrator.studies.prompted import PromptedStudy

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from analysis.report import Report
    from orchestrator.context import RunContext, StudyRun

TIERS = ("free", "paid")
# af/user.j2's suffix: the tag instruction, none, or the tag alone (the af_decision variant)
SUFFIXES = (True, False, "decision")


class AlignmentFakingStudy(PromptedStudy):
    name = "alignment_faking"
    schema = AlignmentFakingConfig
    columns = COLUMNS
    # whether a row has each (the counts, the AF metrics); the samples shown read them back
    lengths_in_report = ("completion", "scratchpad", "output")
    scored_columns = SCORED_COLUMNS

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        from orchestrator.studies.alignment_faking.training import finetune_id

        payload = super().cell_payload(cfg)
        trained = finetune_id(cfg)
        if not trained:  # cells without training keep the ids they always had
            return payload
        step = getattr(cfg.study, "rl_step", 0)
        return {**payload, "finetune": [trained, step] if step else trained}

    def variables(self, cfg: RootConfig) -> dict[str, Any]:
        tier = cfg.study.vars.get("tier")
        if tier not in TIERS:
            raise UserError(
                f"study.vars.tier={tier!r}: the alignment_faking study needs tier free or paid "
                "(a grid axis study.vars.tier: [free, paid])"
            )
        values = super().variables(cfg)
        # a misspelt string would be truthy: the full suffix, silently
        if values.get("acceptance_suffix", False) not in SUFFIXES:
            raise UserError(
                f"prompt_variant.vars.acceptance_suffix={values['acceptance_suffix']!r}: "
                "use true, false or decision"
            )
        return values

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        return {**super().labels(cfg), "tier": str(cfg.study.vars["tier"])}

    def runner(self, ctx: RunContext) -> StudyRun:
        from orchestrator.studies.alignment_faking.run import AlignmentFakingRun

        return AlignmentFakingRun(ctx)  # generation, then parse, rule-judge and LLM-judge

    def report_rows(self, sweep_dir: Path) -> str:
        scored = any((sweep_dir / "scores").glob("model=*/*.parquet"))
        return "scores" if scored else "results"

    def sections(self, sweep_dir: Path, rows: pa.Table, report: Report) -> None:
        import pyarrow.parquet as pq

        from analysis.report import by_axis, prompted_sections
        from analysis.samples import browse
        from orchestrator.studies.alignment_faking.sections import alignment_faking, fact_recall

        recall = sweep_dir / "metrics" / "fact_recall.parquet"
        if recall.is_file():
            with report.section("fact_recall"):
                fact_recall(pq.read_table(recall), report)
        if "outcome" not in rows.column_names:  # generated, not judged yet
            prompted_sections(rows, report)
            return
        with report.section("alignment_faking"):
            alignment_faking(rows, report)
        by_axis(rows, report)
        with report.section("samples"):
            report.samples = browse(rows)


STUDY = AlignmentFakingStudy()
