"""The progress line counts rates from the first result, not from engine start-up."""

from __future__ import annotations

import io

from orchestrator.progress import Progress, clock


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
