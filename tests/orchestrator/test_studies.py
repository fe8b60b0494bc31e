"""Studies plug in through the registry: a study package outside the engine runs end to end
and reports its own section."""

from __future__ import annotations

import json
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


def test_a_study_with_its_own_stage_graph_runs_end_to_end(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """generate -> judge -> finetune -> generate, from one package and its conf files under
    tests/, on real Ray, vLLM and peft; no engine file names it."""
    from orchestrator.events import read_events
    from tests.conftest import REPO
    from tests.studies.tutor import CONF

    args = [f"hydra.searchpath=[file://{CONF}]", "+sweep=tutor", f"output_root={tmp_path}"]
    report = run(args)
    graph = report.stages
    assert not report.failures and not graph.blocked
    stages = {"answer", "judge", "make_data", "finetune", "answer_tuned"}
    assert set(graph.ran) == stages and all(len(ids) == 2 for ids in graph.ran.values())
    said = capsys.readouterr().out  # a progress line per stage as its nodes finish
    assert all(f"[tutor] stage {stage}: 2/2 nodes done" in said for stage in stages)
    # Every row of both generate stages carries its grid cell's id and axes.
    rows = ds.dataset(report.results, partitioning="hive").to_table().to_pylist()
    assert len(rows) == 2 * 2 * 12
    cells = {(r["cell_id"], r["axes"]) for r in rows}
    assert {json.loads(axes)["study.vars.tone"] for _, axes in cells} == {"kind", "blunt"}
    # the study's own column, declared in its package: each row's tone, typed and stored
    assert all(r["tone"] == json.loads(r["axes"])["study.vars.tone"] for r in rows)
    assert len(cells) == 2 and {r["stage"] for r in rows} == {"answer", "answer_tuned"}
    art = report.sweep_dir / "artifacts"
    adapters = {str(art / "adapters" / a) for a in graph.ran["finetune"]}
    assert {r["adapter"] for r in rows if r["stage"] == "answer_tuned"} == adapters
    assert {r["adapter"] for r in rows if r["stage"] == "answer"} == {None}
    for judge in graph.ran["judge"]:
        verdicts = json.loads((art / "answers" / f"{judge}.json").read_text())
        assert len(verdicts) == 12 and all(isinstance(v, bool) for v in verdicts.values())
    for adapter in graph.ran["finetune"]:
        assert (art / "adapters" / adapter / "adapter_model.safetensors").is_file()
    # One engine load: the judge is the model under test, and the pool waited out training.
    events = [e["event"] for e in read_events(report.sweep_dir / "events.jsonl")]
    assert events.count("engine_load") == 1
    assert build_report(report.sweep_dir).tables["tutor"].num_rows == 4
    # A re-run finds every node done and runs nothing.
    again = run(args).stages
    assert again.ran == {} and len(again.reused) == 10 and again.engine_loads == 0
    engine = [*REPO.glob("orchestrator/**/*.py"), *REPO.glob("jobs/**/*.py"), *REPO.glob("conf/**")]
    assert not [p for p in engine if p.is_file() and "tutor" in p.read_text()]
