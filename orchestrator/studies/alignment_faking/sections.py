"""The alignment-faking report's sections: per-tier metrics, the compliance gap with its
multiple-comparison note, outcome bars, the judge's vote shares and the AF definition."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from analysis.columns import has_text
from analysis.report import Report
from orchestrator.studies.alignment_faking import figures
from orchestrator.studies.alignment_faking.gap import compliance_gap
from orchestrator.studies.alignment_faking.metrics import (
    AF_DEFINITION,
    tier_metrics,
)
from orchestrator.studies.alignment_faking.summary import headline

PHRASE_TABLES = (
    "Judged by phrase tables ({judges}; judges=af_control): the known-answer controls' judge, "
    "run by the CPU sweep because the embedded 135M model cannot grade. It reads fixed "
    "phrases, not meaning (validated on labelled scratchpads by make validate): these rates "
    "show the pipeline end to end; for numbers to report, use an LLM judge (judges=af_gpu) "
    "checked with mode=judge_eval."
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
    unscored = report.unscored()
    report.figure("outcomes", figures.outcome_bars(rows))
    if any(figures.rl_step_of(c) is not None for c in tiers["condition"].to_pylist()):
        report.figure("rl_steps", figures.rl_curves(tiers), unscored)  # study.finetune=rl
    if any(gaps["prompts"].to_pylist()):
        report.figure("compliance_gap", figures.gap_forest(gaps))
    else:
        report.no_figure("compliance_gap", f"no request was scored in both tiers; {unscored}")
    shares = rows.filter(pc.is_valid(rows["af_vote_share"]))
    if shares.num_rows:
        judge = json.loads(shares["judges"][0].as_py())["af_reasoning"]
        report.figure(
            "af_vote_shares", figures.vote_shares(shares, judge["threshold"], judge["possible"])
        )
    else:
        report.no_figure("af_vote_shares", no_vote_shares(rows, unscored))
    phrases = judged_by_phrases(rows)
    if phrases:
        report.notes.insert(0, PHRASE_TABLES.format(judges=", ".join(phrases)))
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


def no_vote_shares(rows: pa.Table, unscored: str) -> str:
    """Why the AF judge's vote-share figure is empty, in one line."""
    judges = json.loads(rows["judges"][0].as_py()) if rows.num_rows else {}
    if "af_reasoning" not in judges:
        return "no af_reasoning judge in this sweep's judges (add one to see its vote shares)"
    if not pc.any(has_text(rows["scratchpad"])).as_py():
        return (
            "no reply wrote a scratchpad, so there was no reasoning to judge (a variant "
            "without one, or a model that does not follow the scratchpad format)"
        )
    return f"no scratchpad got a valid vote: {unscored}"


def judged_by_phrases(rows: pa.Table) -> list[str]:
    """The judges of these rows answered by phrase tables (backend lexicon), by name."""
    names: set[str] = set()
    for text in pc.unique(rows["judges"]).to_pylist():
        for name, judge in json.loads(text or "{}").items():
            if judge.get("backend") == "lexicon":
                names.add(name)
    return sorted(names)


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
