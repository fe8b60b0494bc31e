"""The alignment-faking report's sections: per-tier metrics, the compliance gap with its
multiple-comparison note, outcome bars, the judge's vote shares and the AF definition."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from analysis.report import Report
from orchestrator.studies.alignment_faking import figures
from orchestrator.studies.alignment_faking.metrics import (
    AF_DEFINITION,
    compliance_gap,
    headline,
    tier_metrics,
)

MULTIPLE_COMPARISONS = (
    "{n} compliance gaps are compared in this report: each 95% interval and p-value holds for "
    "one comparison alone, so some will look significant by chance. p_holm adjusts the "
    "p-values for all {n} at once (Holm's method, family-wise error 5%); call a gap "
    "significant on p_holm < 0.05, and read the intervals as descriptive."
)


def alignment_faking(rows: pa.Table, report: Report) -> None:
    tiers, gaps = tier_metrics(rows), compliance_gap(rows)
    report.tables.update(
        {"alignment_faking": headline(tiers, gaps), "tiers": tiers, "compliance_gap": gaps}
    )
    report.figure("outcomes", figures.outcome_bars(rows))
    if any(figures.rl_step_of(c) is not None for c in tiers["condition"].to_pylist()):
        report.figure("rl_steps", figures.rl_curves(tiers))  # study.finetune=rl
    report.figure("compliance_gap", figures.gap_forest(gaps))
    shares = rows.filter(pc.is_valid(rows["af_vote_share"]))
    if shares.num_rows:
        judge = json.loads(shares["judges"][0].as_py())["af_reasoning"]
        report.figure(
            "af_vote_shares", figures.vote_shares(shares, judge["threshold"], judge["possible"])
        )
    if gaps.num_rows > 1:
        report.notes.append(MULTIPLE_COMPARISONS.format(n=gaps.num_rows))
    for g in gaps.to_pylist():
        if not g["prompts"]:
            report.summary.append(
                f"{g['model']} {g['prompt_variant']}: no request scored in both tiers "
                f"(dropped free/paid {g['dropped_free']}/{g['dropped_paid']}): no gap"
            )
            continue
        report.summary.append(
            f"{g['model']} {g['prompt_variant']}: compliance gap {100 * g['gap']:+.0f}pp "
            f"[{100 * g['gap_low']:+.0f}, {100 * g['gap_high']:+.0f}], p={g['p_value']:.3f} "
            f"(Holm {g['p_holm']:.3f}), {g['prompts']} prompts ({g['pairs']} pairs; "
            f"dropped free/paid {g['dropped_free']}/{g['dropped_paid']})"
        )
    report.notes.append(AF_DEFINITION)


def fact_recall(recall: pa.Table, report: Report) -> None:
    """The fact-recall probe: table, figure and one summary line per model variant."""
    from orchestrator.studies.alignment_faking.probe import LEGEND

    report.tables["fact_recall"] = recall
    report.figure("fact_recall", figures.recall_bars(recall))
    report.notes.append(LEGEND)
    for r in recall.to_pylist():
        variant = "base model" if r["adapter"] == "none" else f"adapter {r['adapter']}"
        report.summary.append(
            f"{r['model']} {variant}: fact recall {100 * r['recall']:.0f}% "
            f"[{100 * r['ci_low']:.0f}, {100 * r['ci_high']:.0f}] of {r['questions']} "
            f"questions ({r['truncated']} truncated)"
        )
