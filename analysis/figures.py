"""Report figures with matplotlib (Agg: no display needed), saved as PNG and SVG: the helpers
and the figures every study can use; a study's own figures live in its package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: no embedded font to fetch
    return plt


def spread(value: float, low: float, high: float) -> list[list[float]]:
    """Error-bar lengths below and above; never negative (a rate of 1.0 can sit a rounding
    error above its interval's upper end)."""
    return [[max(0.0, value - low)], [max(0.0, high - value)]]


# The gid of a reference line (zero, a threshold): drawn in every figure, so never data.
REFERENCE = "reference"


def has_data(figure: Any) -> bool:
    """Whether any axis of the figure shows a data mark: a bar or histogram bin of non-zero
    height, a point or curve with a finite value, an error bar. Reference lines (gid REFERENCE) and
    empty bars are not data: a figure of them alone is an empty figure."""
    import math

    for axis in figure.axes:
        for patch in axis.patches:
            if patch.get_gid() != REFERENCE and getattr(patch, "get_height", lambda: 0)():
                return True
        for line in axis.lines:
            values = [y for y in line.get_ydata() if y is not None]
            if line.get_gid() != REFERENCE and any(math.isfinite(float(y)) for y in values):
                return True
        for marks in axis.collections:  # error bars (segments), scatter points (offsets)
            segments: list[Any] = getattr(marks, "get_segments", list)()
            if marks.get_gid() != REFERENCE and (len(segments) or len(marks.get_offsets())):
                return True
    return False


def save(figure: Any, stem: Path) -> None:
    figure.savefig(stem.with_suffix(".png"), dpi=110, bbox_inches="tight")
    figure.savefig(stem.with_suffix(".svg"), bbox_inches="tight")
    pyplot().close(figure)


def loss_curves(curves: dict[str, list[float]]) -> Any:
    """Training loss per step, one line per fine-tuning job (adapter)."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.0))
    for label, losses in curves.items():
        axis.plot(range(1, len(losses) + 1), losses, label=label, linewidth=1.2)
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.set_yscale("log")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return figure


def axis_rates(table: pa.Table, axis_name: str, measure: str) -> Any:
    """One measure's rate (with its 95% interval) at each value of one axis."""
    plt = pyplot()
    rows = [r for r in table.to_pylist() if r["axis"] == axis_name and r[measure] is not None]
    figure, axis = plt.subplots(figsize=(max(3.0, 0.7 * len(rows) + 1.5), 2.8))
    for x, row in enumerate(rows):
        low, high = row[f"{measure}_low"], row[f"{measure}_high"]
        axis.bar(x, row[measure], color="#4c72b0")
        axis.errorbar(
            x,
            row[measure],
            yerr=spread(row[measure], low, high),
            color="black",
            capsize=3,
        )
    axis.set_xticks(range(len(rows)), [r["value"] for r in rows], fontsize=7)
    axis.set_ylim(0, 1.05)
    axis.set_xlabel(axis_name)
    axis.set_ylabel(f"{measure} rate (95% CI)")
    return figure
