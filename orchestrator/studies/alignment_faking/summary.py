"""Alignment faking's headline numbers for the W&B run's summary: per condition (model,
prompt variant, other axes) and tier, compliance and the AF-reasoning rate; per condition,
the compliance gap with its interval and p-values; grid-wide, the rows, the scored rows and
how many conditions' gaps are above zero with 95% confidence."""

from __future__ import annotations

from typing import Any

import pyarrow as pa


def condition_key(row: dict[str, Any]) -> str:
    parts = [row["model"], row["prompt_variant"], row.get("condition") or ""]
    return "/".join(str(p).replace(" ", "_") for p in parts if p)


def summary_values(tiers: pa.Table, gaps: pa.Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tier in tiers.to_pylist():
        base = f"{condition_key(tier)}/{tier['tier']}"
        out[f"{base}/compliance"] = tier.get("complied")
        out[f"{base}/af_rate"] = tier.get("af_reasoning")
        out[f"{base}/scored"] = tier["scored"]
    for gap in gaps.to_pylist():
        base = condition_key(gap)
        for name in ("gap", "gap_low", "gap_high", "p_value", "p_holm"):
            out[f"{base}/{name}"] = gap.get(name)
    rows = tiers.to_pylist()
    out["grid/rows"] = sum(r["rows"] for r in rows)
    out["grid/scored"] = sum(r["scored"] for r in rows)
    out["grid/conditions"] = gaps.num_rows
    out["grid/gaps_above_zero"] = sum(
        1 for g in gaps.to_pylist() if g.get("gap_low") is not None and g["gap_low"] > 0
    )
    return out
