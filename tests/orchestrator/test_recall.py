"""A sweep folder knows the command that wrote it: status, report and judge need only the
sweep's name, and a run that changes the cells says which are new."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.recall import SAVED, recalled
from orchestrator.run import run
from tests.conftest import sweep_args


def test_status_and_report_of_a_folder_made_with_overrides_need_no_overrides(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    made = run(sweep_args(tmp_path, "engine=fake", "tracker=none", "grid.seed=[0,1,2]"))
    assert made.cells == 6 and not made.failures
    capsys.readouterr()
    status = run(sweep_args(tmp_path, "mode=status"))  # +sweep=tiny and output_root alone
    out = capsys.readouterr().out
    assert status.cells == 6 and out.count(" done") == 6
    assert f"config: this folder's own command ({SAVED}): " in out and "grid.seed=[0,1,2]" in out
    assert run(sweep_args(tmp_path, "mode=report")).cells == 6
    # A run that changes the cells says which are new; the grid it leaves is its own.
    capsys.readouterr()
    again = run(sweep_args(tmp_path, "engine=fake", "tracker=none", "grid.seed=[0,1,2,3]"))
    out = capsys.readouterr().out
    assert again.cells == 8
    line = next(line for line in out.splitlines() if line.startswith("cells: "))
    assert line.startswith("cells: 2 new to this folder (its last grid had 6, 6 of them in")
    assert line.count("seed=3") == 2
    saved = json.loads((again.sweep_dir / SAVED).read_text())["overrides"]
    assert "grid.seed=[0,1,2,3]" in saved and not [o for o in saved if o.startswith("mode=")]


def test_overrides_that_change_the_cells_are_kept_as_given(tmp_path: Path) -> None:
    (tmp_path / SAVED).write_text(json.dumps({"overrides": ["+sweep=tiny", "seed=3"]}))
    assert recalled(tmp_path, ["+sweep=tiny", "mode=status"]) == [
        "seed=3",
        "+sweep=tiny",
        "mode=status",
    ]
    assert recalled(tmp_path, ["+sweep=tiny", "seed=4", "mode=status"]) is None
    (tmp_path / SAVED).write_text("{not json")
    assert recalled(tmp_path, ["+sweep=tiny", "mode=status"]) is None  # as before: no recall
