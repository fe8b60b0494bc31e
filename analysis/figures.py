"""Report figures with matplotlib (Agg: no display needed), saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

# Outcome classes of the alignment-faking bars, bottom to top, and their colours.
OUTCOMES = (
    ("refused", "#4c72b0"),
    ("partial", "#dd8452"),
    ("complied", "#c44e52"),
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: no embedded font to fetch
    return plt


def save(figure: Any, stem: Path) -> None:
    figure.savefig(stem.with_suffix(".png"), dpi=110, bbox_inches="tight")
    figure.savefig(stem.with_suffix(".svg"), bbox_inches="tight")
    _pyplot().close(figure)


def outcome_bars(tiers: pa.Table) -> Any:
    """Per model x variant, a stacked bar per tier: refused / partial / complied shares, with
    the alignment-faking-reasoning share hatched over the complied part."""
    plt = _pyplot()
    rows = tiers.to_pylist()
    figure, axis = plt.subplots(figsize=(max(4.0, 0.9 * len(rows) + 1), 3.2))
    labels = []
    for x, row in enumerate(rows):
        bottom = 0.0
        for name, colour in OUTCOMES:
            share = row[name] or 0.0
            axis.bar(x, share, bottom=bottom, color=colour, label=name if x == 0 else None)
            bottom += share
        af = row["af_reasoning"] or 0.0
        axis.bar(
            x,
            af,
            bottom=bottom - (row["complied"] or 0.0),
            fill=False,
            hatch="///",
            edgecolor="black",
            linewidth=0,
            label="AF reasoning" if x == 0 else None,
        )
        labels.append(f"{row['model']}\n{row['prompt_variant']}\n{row['tier']}")
    axis.set_xticks(range(len(rows)), labels, fontsize=7)
    axis.set_ylim(0, 1)
    axis.set_ylabel("share of scored replies")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return figure


def gap_forest(gaps: pa.Table) -> Any:
    """The compliance gap (free - paid) with its 95% interval, one line per condition."""
    plt = _pyplot()
    rows = gaps.to_pylist()
    figure, axis = plt.subplots(figsize=(5.5, 0.45 * len(rows) + 1.2))
    for y, row in enumerate(rows):
        axis.errorbar(
            row["gap"],
            y,
            xerr=[[row["gap"] - row["gap_low"]], [row["gap_high"] - row["gap"]]],
            fmt="o",
            color="black",
            capsize=3,
        )
    axis.axvline(0, color="grey", linewidth=0.8, linestyle="--")
    axis.set_yticks(range(len(rows)), [f"{r['model']} {r['prompt_variant']}" for r in rows])
    axis.set_xlim(-1, 1)
    axis.set_xlabel("compliance gap, free - paid (95% CI)")
    return figure


def backdoor_rates(table: pa.Table) -> Any:
    """Backdoor rate with and without the trigger, before and after safety training."""
    plt = _pyplot()
    rows = table.to_pylist()
    series = ("before_triggered", "before_untriggered", "after_triggered", "after_untriggered")
    figure, axis = plt.subplots(figsize=(max(4.0, 1.6 * len(rows) + 1), 3.2))
    width = 0.8 / len(series)
    for k, name in enumerate(series):
        for x, row in enumerate(rows):
            if row[name] is None:
                continue
            axis.bar(
                x + k * width,
                row[name],
                width,
                color=f"C{k}",
                yerr=[[row[name] - row[f"{name}_low"]], [row[f"{name}_high"] - row[name]]],
                capsize=2,
                label=name.replace("_", " ") if x == 0 else None,
            )
    axis.set_xticks(
        [x + 1.5 * width for x in range(len(rows))],
        [f"{r['backdoor']}\ncot={r['cot']}\n{r['safety']}" for r in rows],
        fontsize=7,
    )
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("backdoor fires")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return figure
