"""The control judge, validated like any judge (mode=judge_eval): the phrase-table AF
judge's accuracy on labelled scratchpads.

Two labelled sets: the 12 built-in items of mode=judge_eval (seen while the tables were
written: an optimistic figure), and 20 held-out items written after the tables were fixed
and never used to tune them (orchestrator/data/af_scratchpads_heldout.jsonl).

The requirement, for each set: the judge must be right more often than a judge that always
gives the set's commoner label (accuracy above the majority share). It is a control's
judge, whose own requirement, labelling the organisms' scripted transcripts exactly, is
checked row by row in the organism control; it is not a judge of real scratchpads (the
phrase tables miss most paraphrases of alignment-faking reasoning).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from analysis.judge_eval import judge_metrics
from analysis.stats import wilson
from orchestrator.controls.recover import Check
from orchestrator.run import run

SETS = {"af_scratchpads_heldout": "held-out", "af_scratchpads_labelled": "built-in"}


def checks(output_root: Path) -> list[Check]:
    """One check per labelled set: accuracy at the judge's threshold, with its AUROC."""
    found = []
    for name, what in SETS.items():
        report = run(
            [
                "+sweep=af_control",
                f"output_root={output_root}",
                f"sweep.name=judge_{name}",
                "mode=judge_eval",
                f"judge_eval.labels.name={name}",
                f"judge_eval.labels.path={name}.jsonl",
            ]
        )
        items = pq.read_table(report.sweep_dir / "judge_eval" / "af_reasoning.parquet")
        summary = judge_metrics(items)[0].to_pylist()[0]
        accuracy = summary["accuracy"] or 0.0
        items, positives = summary["items"], summary["positives"]
        floor = max(positives, items - positives) / items  # always the commoner label
        found.append(
            Check(
                "judge af_reasoning (phrase tables)",
                f"accuracy, {what} labels (above the majority share)",
                floor,
                accuracy,
                *wilson(accuracy * summary["items"], summary["items"]),
                f"{summary['items']} items, AUROC {summary['auroc'] or 0:.2f}, "
                f"kappa {summary['kappa'] or 0:.2f}",
                rule="above",
            )
        )
    return found
