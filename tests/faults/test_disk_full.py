"""The disk fills up mid-run (or the output folder turns read-only): one line that says what
to do instead of a traceback, nothing more is dispatched, every shard not written is listed
in failed_shards.json, and the same command resumes once there is room."""

from __future__ import annotations

import errno
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from jobs import durable
from orchestrator.__main__ import main
from orchestrator.run import run
from tests.conftest import sweep_args

SHARDS = 4 * 3  # tiny: 4 cells x 12 prompts in shards of 4
ROOM = 3  # result files the disk takes before it is full


def test_a_full_disk_is_one_line_and_the_rerun_resumes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ray_cluster: None,
) -> None:
    real = durable.write_file
    results: list[Path] = []

    def filling(final: Path, write: Callable[[Path], object], *ready: Any) -> Path:
        if final.suffix == ".parquet" and "results" in final.parts:
            if len(results) >= ROOM:
                raise OSError(errno.ENOSPC, "No space left on device", str(final))
            results.append(final)
        return real(final, write, *ready)

    monkeypatch.setattr(durable, "write_file", filling)
    args = sweep_args(tmp_path, "engine=fake", "tracker=none")
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert main(args) == 1
    finally:
        signal.signal(signal.SIGTERM, handler)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert "re-run the same command" in err[0]
    sweep = tmp_path / "tiny"
    written = sorted(p.name for p in sweep.glob("results/*/*.parquet"))
    assert len(written) == ROOM
    failed = json.loads((sweep / "failed_shards.json").read_text())
    # Every shard is written or listed, never both: the one whose write failed among them.
    assert len(failed) == SHARDS - ROOM
    assert any(f["error"].startswith("not written") for f in failed)
    monkeypatch.setattr(durable, "write_file", real)
    again = run(args)
    assert not again.failures and again.shards_run == SHARDS - ROOM
    rows = ds.dataset(sweep / "results", format="parquet").to_table(["cell_id", "prompt_id"])
    keys = set(zip(rows["cell_id"].to_pylist(), rows["prompt_id"].to_pylist(), strict=True))
    assert rows.num_rows == len(keys) == 4 * 12


def test_a_full_disk_that_also_refuses_the_failure_record_names_where_it_went(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ray_cluster: None,
) -> None:
    """Before: the error line said the unfinished shards were listed in failed_shards.json,
    but that file could not be written, and an earlier run's copy stayed in its place."""
    args = sweep_args(tmp_path, "engine=fake", "tracker=none")
    sweep = tmp_path / "tiny"
    sweep.mkdir(parents=True)
    stale = [{"cell_id": "from an earlier run", "error": "old"}]
    (sweep / "failed_shards.json").write_text(json.dumps(stale))
    real = durable.write_file
    room = [ROOM]

    def full(final: Path, write: Callable[[Path], object], *ready: Any) -> Path:
        if final.name == "failed_shards.json" and final.parent == sweep:
            raise OSError(errno.ENOSPC, "No space left on device", str(final))
        if final.suffix == ".parquet" and "results" in final.parts:
            if not room[0]:
                raise OSError(errno.ENOSPC, "No space left on device", str(final))
            room[0] -= 1
        return real(final, write, *ready)

    monkeypatch.setattr(durable, "write_file", full)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "spare"))
    (tmp_path / "spare").mkdir()
    assert main(args) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    fallback = tmp_path / "spare" / "mosweep-tiny-failed_shards.json"
    assert len(err) == 1 and f"the unfinished ones are listed in {fallback}" in err[0], err
    assert not (sweep / "failed_shards.json").exists()  # the stale list is gone
    failed = json.loads(fallback.read_text())
    assert len(failed) == SHARDS - ROOM


def test_a_full_disk_while_the_report_is_written_keeps_the_earlier_report(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ray_cluster: None,
) -> None:
    """Before: the earlier report's files were deleted first, and the new report.html was
    left torn under its final name."""
    from analysis import report as builder

    args = sweep_args(tmp_path, "engine=fake", "tracker=none")
    first = run(args)
    html = first.sweep_dir / "report" / "report.html"
    before = html.read_bytes()
    written = sorted(p.name for p in html.parent.iterdir())

    def full(sweep: str, report: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device", "report.html")

    monkeypatch.setattr(builder, "_html", full)
    next(first.results.rglob("*.parquet")).unlink()  # a shard to run again: a new report
    capsys.readouterr()
    again = run(args)
    assert again.report_error and "No space left on device" in again.report_error
    assert html.read_bytes() == before
    assert sorted(p.name for p in html.parent.iterdir()) == written
    assert not list(first.sweep_dir.glob(".report-build-*"))
