"""The bad-input catalogue (tests/faults/catalogue.py, shown in docs/bad_inputs.md): every
case fails with exit status 2 and one line before any job starts, and every file of the
sweep already in the output folder is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.lock import LOCK_FILE
from orchestrator.run import run
from tests.conftest import sweep_args
from tests.faults.catalogue import CASES, DOC, BadInput, attempt, messages, normalise, render


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, ray_cluster: None) -> Path:
    """An output folder holding a finished sweep (fake engine: its files are what matters)."""
    root = tmp_path_factory.mktemp("finished")
    report = run(sweep_args(root, "engine=fake", "tracker=none"))
    assert report.rows_written == 48
    return root


def snapshot(root: Path) -> dict[Path, tuple[int, int]]:
    """Every file's size and time, but the sweep lock's (a writing invocation takes it
    before its last checks; it holds no data)."""
    return {
        p: (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and p.name != LOCK_FILE
    }


def test_the_catalogue_covers_twenty_inputs_in_every_area() -> None:
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    areas = {c.area for c in CASES}
    assert {
        "config",
        "dataset",
        "prompt files",
        "environment",
        "Ray address",
        "output folder",
        "model path",
        "adapter path",
        "W&B settings",
    } <= areas


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_loses_nothing(
    case: BadInput, finished: Path, tmp_path: Path
) -> None:
    before = snapshot(finished)
    status, err = attempt(case, finished, tmp_path)
    assert status == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert case.expect in err
    assert snapshot(finished) == before  # nothing written before is changed or lost
    assert not [p for p in finished.rglob("*.parquet") if p not in before]  # no job ran


def test_docs_show_what_the_cases_print() -> None:
    assert DOC.read_text() == render(messages()), (
        "docs/bad_inputs.md is stale: run `python -m tests.faults.catalogue`"
    )


def test_normalise_names_scratch_folders() -> None:
    assert normalise(
        "error: /x/runs-root/tiny and /x/files/d.csv", Path("/x/runs-root"), Path("/x/files")
    ) == ("error: <runs>/tiny and <files>/d.csv")
