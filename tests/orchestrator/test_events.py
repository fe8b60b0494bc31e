"""The event log survives a driver killed mid-line: the torn line is skipped, and the next
run's lines stand on their own."""

from __future__ import annotations

from pathlib import Path

from orchestrator.events import EventLog, read_events


def test_a_torn_last_line_is_skipped_and_terminated(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first = EventLog(path)
    first("dispatch", "a_000000-000004", replica=0)
    first.close()
    with path.open("a") as f:
        f.write('{"t": 1, "event": "do')  # SIGKILL mid-write
    second = EventLog(path)
    second("done", "a_000000-000004")
    second.close()
    events = read_events(path)
    assert [(e["event"], e["job"]) for e in events] == [
        ("dispatch", "a_000000-000004"),
        ("done", "a_000000-000004"),
    ]
    assert events[0]["replica"] == 0 and read_events(tmp_path / "none.jsonl") == []


def test_no_path_logs_nothing(tmp_path: Path) -> None:
    log = EventLog(None)
    log("dispatch", "x")
    log.close()
    assert not list(tmp_path.iterdir())
