"""af_rl's known-answer control on CPU: does the RL stage raise what it rewards?

Runs `+sweep=af_rl` (SmolLM2-135M, GRPO toward the acceptance tag on free-tier prompts) in
a fresh output folder and prints, per RL step and tier, the scored rows and the `accepted`
rate (complied with the acceptance tag, the reward's own verdict) with its 95% interval
over prompts; the control holds when the free tier's interval at the last step lies wholly
above its interval before RL. Extra arguments are passed to the sweep as overrides.

    .venv/bin/python -m bench.af_rl_control [--json out.json] [override ...]
"""

from __future__ import annotations

import sys
from typing import Any

import pyarrow.parquet as pq

from bench.common import Result, control_arguments, emit_control, fresh_sweep
from orchestrator.studies.alignment_faking.figures import rl_step_of


def by_step(tiers: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """tiers.parquet's rows keyed by (RL step, tier); the condition reads `rl_step=N`."""
    return {(rl_step_of(row["condition"]) or 0, row["tier"]): row for row in tiers}


def control_holds(rows: dict[tuple[int, str], dict[str, Any]]) -> bool:
    """The free tier's `accepted` interval at the last step wholly above the one at step 0
    (a step with no scored row has no rate, and cannot hold)."""
    last = max(step for step, _ in rows)
    start, end = rows.get((0, "free")), rows.get((last, "free"))
    if not start or not end or start["accepted"] is None or end["accepted"] is None:
        return False
    return bool(end["accepted_low"] > start["accepted_high"])


def main() -> int:
    args = control_arguments(__doc__)
    with fresh_sweep(["+sweep=af_rl", *args.overrides], "af_rl") as (folder, seconds):
        rows = by_step(pq.read_table(folder / "af_rl/metrics/tiers.parquet").to_pylist())
    print(f"\n{'step':>5} {'tier':<5} {'scored':>7} {'accepted [95% CI]':>22}")
    for (step, tier), row in sorted(rows.items()):
        rate = "-" if row["accepted"] is None else f"{row['accepted']:.2f}"
        interval = f"{rate} [{row['accepted_low']:.2f}, {row['accepted_high']:.2f}]"
        print(f"{step:>5} {tier:<5} {row['scored']:>3}/{row['rows']:<3} {interval:>22}")
    last = max(step for step, _ in rows)
    start, end = rows[(0, "free")]["accepted"] or 0.0, rows[(last, "free")]["accepted"] or 0.0
    ratio = end / start if start else float("inf")
    result = Result(
        "af_rl known-answer control (CPU)",
        f"free-tier accepted rate at step {last}",
        end,
        "before RL",
        start,
        "share",
        ratio,
        target="intervals do not overlap, within 20 min",
    )
    return emit_control(result, control_holds(rows), seconds, args.json)


if __name__ == "__main__":
    sys.exit(main())
