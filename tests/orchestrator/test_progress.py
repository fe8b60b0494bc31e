"""The progress line counts rates from the first result, not from engine start-up."""

from __future__ import annotations

import io
from pathlib import Path

from orchestrator.progress import Progress, clock
from orchestrator.report import RunReport, end_summary


def test_progress_line_and_final_print() -> None:
    stream = io.StringIO()
    progress = Progress("s", shards=2, rows=20, stream=stream)
    progress.update(rows=10, tokens=100)
    assert "ETA ?" in progress.line()  # one result: no rate yet
    progress.update(rows=10, tokens=100)
    out = stream.getvalue()
    assert "[s] shards 2/2 | rows 20/20" in out and out.endswith("\n")


def test_failed_shards_are_shown() -> None:
    progress = Progress("s", shards=2, rows=20, stream=io.StringIO())
    progress.update(rows=10)
    progress.update(failed=1)
    assert "shards 2/2 | 1 failed" in progress.line()


def test_clock() -> None:
    assert clock(3725) == "1:02:05"


def test_the_two_token_rates_say_what_they_count(tmp_path: Path) -> None:
    """The progress line's rate (from the first shard) and the end line's (the whole run,
    start-up included) differ; each is named, never a bare `tok/s`."""
    progress = Progress("s", shards=2, rows=20, stream=io.StringIO())
    progress.update(rows=10, tokens=100)
    assert " generated tok/s | " in progress.line()
    report = RunReport(tmp_path, cells=1, shards_total=2, shards_run=2, tokens=300, seconds=3.0)
    last = end_summary(report, []).splitlines()[0]
    assert "100 generated tok/s over the whole run, start-up included" in last
    assert "(the progress line counts from the first shard)" in last
