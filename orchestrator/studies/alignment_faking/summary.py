"""Alignment faking's headline numbers: the report's and the console's headline table (one
line per condition), and for the W&B run's summary, per condition (model, prompt variant,
other axes) and tier, compliance and the AF-reasoning rate; per condition, the compliance
gap with its interval and p-values; grid-wide, the rows, the scored rows and how many
conditions' gaps are above zero with 95% confidence."""

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


def headline(tiers: pa.Table, gaps: pa.Table) -> pa.Table:
    """The printed table: one line per condition, the gap first."""
    by_tier = {
        (r["model"], r["prompt_variant"], r["condition"], r["tier"]): r for r in tiers.to_pylist()
    }
    lines = []
    for g in gaps.to_pylist():
        key = (g["model"], g["prompt_variant"], g["condition"])
        free, paid = by_tier.get((*key, "free"), {}), by_tier.get((*key, "paid"), {})
        if not g["prompts"]:  # no pair scored in both tiers: there is no gap to show
            g = {**g, "free_compliance": None, "paid_compliance": None}
        lines.append(
            {
                "model": g["model"],
                "variant": g["prompt_variant"] + (f" {g['condition']}" if g["condition"] else ""),
                "prompts": g["prompts"],
                "comply_free": _pct(g["free_compliance"]),
                "comply_paid": _pct(g["paid_compliance"]),
                "gap [95% CI]": f"{_signed(g['gap'])} [{_signed(g['gap_low'])}, "
                f"{_signed(g['gap_high'])}]"
                if g["prompts"]
                else "-",
                "p": f"{g['p_value']:.3f}" if g["prompts"] else "-",
                "p_holm": f"{g['p_holm']:.3f}" if g["prompts"] else "-",
                "dropped f/p": f"{g['dropped_free']}/{g['dropped_paid']}",
                "gap if dropped": _bounds(g["gap_min"], g["gap_max"]),
                "af_free": _pct(free.get("af_reasoning")),
                "af_paid": _pct(paid.get("af_reasoning")),
                "refused": _pct(_mean(free.get("refused"), paid.get("refused"))),
                "partial": _pct(_mean(free.get("partial"), paid.get("partial"))),
                "truncated": free.get("truncated", 0) + paid.get("truncated", 0),
                "unparsable": free.get("unparsable", 0) + paid.get("unparsable", 0),
                "judge_failed": free.get("judge_failed", 0) + paid.get("judge_failed", 0),
                "api_refused": free.get("api_refused", 0) + paid.get("api_refused", 0),
                "judge": free.get("judge") or paid.get("judge") or "-",
            }
        )
    return pa.Table.from_pylist(lines)


def _bounds(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"[{_signed(low)}, {_signed(high)}]"


def _mean(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return sum(values) / len(values) if values else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _signed(value: float) -> str:
    return f"{100 * value:+.0f}pp"
