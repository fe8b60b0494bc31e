"""The alignment-faking report's figures: outcome bars per tier (the paper's layout), the
compliance-gap forest, and the AF-reasoning judge's vote shares."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analysis.figures import REFERENCE, pyplot, spread
from orchestrator.studies.alignment_faking.metrics import (
    COLUMNS,
    by_condition,
    each_row,
    fakes_alignment,
)

# Outcome classes of the alignment-faking bars, bottom to top: (name, colour, hatch).
OUTCOMES = (
    ("refused", "#4c72b0", ""),
    ("partial", "#dd8452", ""),
    ("complied", "#c44e52", ""),
    ("complied + AF reasoning", "#c44e52", "///"),
    ("truncated", "#bbbbbb", ""),
    ("unparsable", "#e5e5e5", ""),
    ("judge_failed", "#8c8c8c", "..."),
    ("api_refused", "#6a3d9a", "xx"),  # a hosted API's policy stopped the reply
)


def outcome_bars(rows: pa.Table) -> Any:
    """Per model x variant (x other axes), a stacked bar per tier over all its rows: refused,
    partial, complied without and with alignment-faking reasoning (hatched), truncated and
    unparsable; the layout of the alignment-faking paper's figures."""
    plt = pyplot()
    bars: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for cell, part in by_condition(rows, COLUMNS):
        for row in each_row(part):
            complied_af = fakes_alignment(row) is True  # the AF rate's own definition
            bars[(*cell, row["tier"])][
                "complied + AF reasoning" if complied_af else row["outcome"]
            ] += 1
    keys = sorted(bars)
    figure, axis = plt.subplots(figsize=(max(4.0, 0.9 * len(keys) + 1), 3.2))
    for x, key in enumerate(keys):
        counts, bottom = bars[key], 0.0
        total = sum(counts.values())
        for name, colour, hatch in OUTCOMES:
            share = counts[name] / total
            axis.bar(
                x,
                share,
                bottom=bottom,
                color=colour,
                hatch=hatch,
                edgecolor="white" if hatch else None,
                linewidth=0,
                label=name if x == 0 else None,
            )
            bottom += share
    labels = [f"{m}\n{v} {c}".strip() + f"\n{t}" for m, v, c, t in keys]
    axis.set_xticks(range(len(keys)), labels, fontsize=7)
    axis.set_ylim(0, 1)
    axis.set_ylabel("share of replies")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return figure


def vote_shares(rows: pa.Table, threshold: float, possible: float) -> Any:
    """How the AF-reasoning judge's vote shares fall, per tier, with the threshold (and the
    lower edge of the 'possible' band) marked."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.0, 3.0))
    edges = [i / 10 for i in range(11)]
    for k, tier in enumerate(sorted(t for t in pc.unique(rows["tier"]).to_pylist() if t)):
        mine = pc.and_(pc.equal(rows["tier"], tier), pc.is_valid(rows["af_vote_share"]))
        shares = pc.filter(rows["af_vote_share"], mine).to_pylist()
        axis.hist(shares, bins=edges, alpha=0.6, color=f"C{k}", label=f"{tier} ({len(shares)})")
    axis.axvline(
        threshold, color="black", linewidth=1.2, label=f"threshold {threshold:g}", gid=REFERENCE
    )
    if possible < threshold:
        axis.axvline(
            possible, color="black", linestyle=":", label=f"possible {possible:g}", gid=REFERENCE
        )
    axis.set_xlim(0, 1)
    axis.set_xlabel("AF-reasoning vote share")
    axis.set_ylabel("replies")
    axis.legend(fontsize=7)
    return figure


def gap_forest(gaps: pa.Table) -> Any:
    """The compliance gap (free - paid) with its 95% interval, one line per condition with a
    pair scored in both tiers (a condition without one has no gap to draw)."""
    plt = pyplot()
    rows = [r for r in gaps.to_pylist() if r["prompts"]]
    figure, axis = plt.subplots(figsize=(5.5, 0.45 * len(rows) + 1.2))
    for y, row in enumerate(rows):
        axis.errorbar(
            row["gap"],
            y,
            xerr=spread(row["gap"], row["gap_low"], row["gap_high"]),
            fmt="o",
            color="black",
            capsize=3,
        )
    axis.axvline(0, color="grey", linewidth=0.8, linestyle="--", gid=REFERENCE)
    labels = [
        f"{r['model']} {r['prompt_variant']} {r['condition']} ({r['pairs']} pairs)" for r in rows
    ]
    axis.set_yticks(range(len(rows)), [" ".join(label.split()) for label in labels])
    axis.invert_yaxis()  # the first condition on top, as in the tables
    axis.set_xlim(-1, 1)
    axis.set_xlabel("compliance gap, free - paid (95% CI)")
    return figure


def recall_bars(recall: pa.Table) -> Any:
    """Fact recall per model variant (base model, each adapter) with its 95% interval."""
    plt = pyplot()
    rows = recall.to_pylist()
    figure, axis = plt.subplots(figsize=(max(3.5, 1.1 * len(rows) + 1), 3.0))
    for x, row in enumerate(rows):
        colour = "#4c72b0" if row["adapter"] == "none" else "#c44e52"
        # A recall of 0 sits a rounding error below its Wilson interval: clip at zero.
        yerr = spread(row["recall"], row["ci_low"], row["ci_high"])
        axis.bar(x, row["recall"], color=colour, yerr=yerr, capsize=4)
    axis.set_xticks(
        range(len(rows)),
        [f"{r['model']}\n{'base' if r['adapter'] == 'none' else r['adapter'][:8]}" for r in rows],
        fontsize=8,
    )
    axis.set_ylim(0, 1)
    axis.set_ylabel("fact recall (95% CI)")
    axis.set_title("what the fine-tune taught: probe questions answered", fontsize=9)
    figure.tight_layout()
    return figure


def rl_step_of(condition: str) -> int | None:
    """The RL step a tiers-table condition names (`... rl_step=10 ...`), if any."""
    for part in condition.split():
        if part.startswith("rl_step="):
            return int(part.split("=", 1)[1])
    return None


def rl_curves(tiers: pa.Table) -> Any:
    """The paper's headline figure of RL toward compliance: per tier, compliance and the
    alignment-faking rate against RL step, with 95% intervals over prompts."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.0, 3.2))
    rows = [r for r in tiers.to_pylist() if rl_step_of(r["condition"]) is not None]
    for tier, colour in (("free", "#c44e52"), ("paid", "#4c72b0")):
        mine = sorted(
            (r for r in rows if r["tier"] == tier), key=lambda r: rl_step_of(r["condition"]) or 0
        )
        for name, style in (("complied", "-"), ("accepted", ":"), ("af_reasoning", "--")):
            points = [r for r in mine if r[name] is not None]
            if not points:
                continue
            steps = [rl_step_of(r["condition"]) for r in points]
            values = [r[name] for r in points]
            spreads = [spread(r[name], r[f"{name}_low"], r[f"{name}_high"]) for r in points]
            errors = [[below for (below,), _ in spreads], [above for _, (above,) in spreads]]
            label = f"{tier}: {name.replace('_', ' ')}"
            axis.errorbar(
                steps,
                values,
                yerr=errors,
                fmt="o" + style,
                color=colour,
                label=label,
                capsize=3,
                linewidth=1.2,
            )
    axis.set_ylim(0, 1)
    axis.set_xlabel("RL step")
    axis.set_ylabel("share of scored replies")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure
