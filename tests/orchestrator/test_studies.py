"""Studies plug in through the registry: a study package outside the engine runs end to end
and reports its own section."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from analysis.report import build_report
from orchestrator.errors import UserError
from orchestrator.run import run
from orchestrator.studies import get_study
from tests.conftest import sweep_args


def test_a_study_outside_the_engine_runs_end_to_end(tmp_path: Path, ray_cluster: None) -> None:
    args = sweep_args(tmp_path, "engine=fake", "tracker=none", "study.name=tests.studies.shouting")
    report = run(args)
    assert not report.failures and report.rows_written == 48
    rows = ds.dataset(report.results, partitioning="hive").to_table()
    assert set(rows["study"].to_pylist()) == {"tests.studies.shouting"}
    built = build_report(report.sweep_dir)
    shouted = built.tables["shouted"].to_pylist()
    assert len(shouted) == 4 and {r["rows"] for r in shouted} == {12}


def test_its_cells_differ_from_the_prompted_study_s(tmp_path: Path) -> None:
    from orchestrator.run import load_sweep

    _, _, prompted = load_sweep(sweep_args(tmp_path))
    _, _, shouting = load_sweep(sweep_args(tmp_path, "study.name=tests.studies.shouting"))
    assert {c.id for c in prompted}.isdisjoint(c.id for c in shouting)


def test_an_unknown_study_says_how_to_name_one() -> None:
    with pytest.raises(UserError, match=r"is unknown \(did you mean 'prompted'\?\)"):
        get_study("prompte")
    with pytest.raises(UserError, match="cannot import no.such.module.STUDY"):
        get_study("no.such.module")


def test_an_axis_the_study_ignores_is_refused(tmp_path: Path) -> None:
    """Its cells would share one id and mix their rows in one cell."""
    from orchestrator.run import load_sweep

    args = sweep_args(
        tmp_path, "study.name=tests.studies.shouting", "+grid.study.vars.volume=[1,2]"
    )
    with pytest.raises(UserError, match="study.vars.volume=1 and study.vars.volume=2 are the same"):
        load_sweep(args)
