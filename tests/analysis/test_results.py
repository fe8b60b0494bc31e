"""mosweep.load: the current grid's rows with axes as columns, and the README's example that
reproduces the report's compliance gap from them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mosweep
from analysis.columns import ReportError
from analysis.report import build_report
from orchestrator.run import run
from tests.analysis.test_report import af_sweep, scored_rows
from tests.conftest import REPO, sweep_args


def test_a_judged_sweep_loads_its_scores_with_the_tier_axis_as_a_column(tmp_path: Path) -> None:
    rows = mosweep.load(af_sweep(tmp_path))
    assert rows.num_rows == 20 and "outcome" in rows.column_names  # scores/, not results/
    assert rows["study.vars.tier"].to_pylist() == rows["tier"].to_pylist()
    assert rows.column_names.count("seed") == 1  # an axis the core holds is not repeated
    assert pa.types.is_string(rows["study.vars.tier"].type)
    some = mosweep.load(af_sweep(tmp_path / "again"), columns=["prompt_id", "outcome"])
    assert some.column_names == ["outcome", "prompt_id", "study.vars.tier"]
    by_axis = mosweep.load(tmp_path / "again" / "af_grid", columns=["study.vars.tier"])
    assert by_axis.column_names == ["study.vars.tier"] and by_axis.num_rows == 20


def test_rows_of_an_earlier_grid_are_left_out(tmp_path: Path) -> None:
    sweep = af_sweep(tmp_path)
    (sweep / "grid.json").write_text(json.dumps({"cells": ["af_cot-free"]}))
    rows = mosweep.load(sweep)
    assert set(rows["tier"].to_pylist()) == {"free"} and rows.num_rows == 10


def test_a_folder_without_results_says_to_run_the_sweep(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no results folder at .*: run the sweep first"):
        mosweep.load(tmp_path / "nothing")


def readme_example() -> str:
    """The README's compliance-gap example: the Python block that loads runs/af_grid."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    found = [b for b in blocks if 'mosweep.load("runs/af_grid")' in b]
    assert len(found) == 1, "README has no ```python block that loads runs/af_grid"
    return found[0]


def test_the_readme_example_reproduces_the_report_s_compliance_gap(tmp_path: Path) -> None:
    sweep = af_sweep(tmp_path, variants=("af_cot", "af_brief"))
    brief = scored_rows("af_brief").to_pylist()
    for row in brief:  # another gap for the second variant: paid p0..p3 complied too
        if row["tier"] == "paid" and row["prompt_id"] in ("p2", "p3"):
            row["outcome"] = "complied"
    path = sweep / "scores" / "model=m" / f"{1:012x}_000000-000010.parquet"
    pq.write_table(pa.Table.from_pylist(brief, schema=pq.read_schema(path)), path)
    namespace: dict[str, object] = {}
    exec(readme_example().replace('"runs/af_grid"', repr(str(sweep))), namespace)
    table = namespace["table"]
    got = {variant: line["gap"] for variant, line in table.iterrows()}  # type: ignore[attr-defined]
    report = build_report(sweep).tables["compliance_gap"].to_pylist()
    assert len(report) == 2
    for line in report:
        assert got[("m", line["prompt_variant"])] == pytest.approx(line["gap"])
    assert got[("m", "af_cot")] != pytest.approx(got[("m", "af_brief")])


def test_the_smoke_sweep_with_a_grid_axis(tmp_path: Path, ray_cluster: None) -> None:
    axis = "+grid.sampling.temperature=[0.0,0.5]"
    report = run(sweep_args(tmp_path, "engine=fake", "tracker=none", axis, sweep="smoke"))
    rows = mosweep.load(report.sweep_dir)
    assert rows.num_rows == report.rows_written > 0
    assert pa.types.is_floating(rows["sampling.temperature"].type)
    assert rows["sampling.temperature"].to_pylist() == rows["temperature"].to_pylist()
    assert set(rows["sampling.temperature"].to_pylist()) == {0.0, 0.5}
    frame = rows.to_pandas()
    assert list(frame.groupby("sampling.temperature").size()) == [rows.num_rows // 2] * 2
