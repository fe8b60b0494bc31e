"""The sweep's event log, `runs/<sweep>/events.jsonl`: one JSON line each time the driver
dispatches a shard to a replica, records its file, retries it, or gives up on it, and one
when a replica's engine is up, with where it runs (node id, GPU ids).

It answers "what was running when this died?": after a crash, the shards dispatched and
never done are exactly the work the re-run repeats (the fault suite checks that). Lines
are appended and flushed one by one, so a killed driver leaves at most a torn last line,
which readers skip. It is a log, never read to plan a resume (file names do that).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any


class EventLog:
    def __init__(self, path: Path | None) -> None:
        self.file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torn = path.is_file() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
            # O_NOFOLLOW: an events.jsonl that is a link is refused, never appended through.
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
            # line-buffered: one write per event
            self.file = os.fdopen(os.open(path, flags, 0o644), "a", buffering=1)
            if torn:  # a killed driver's half line: end it, so this run's lines stand alone
                self.file.write("\n")

    def __call__(self, event: str, job: str, **extra: Any) -> None:
        if self.file is not None:
            line = json.dumps({"t": round(time.time(), 3), "event": event, "job": job, **extra})
            try:
                self.file.write(line + "\n")
            except OSError:  # a full disk: the log is a log; the results say what is done
                self.file = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete line of an event log (a torn last line is left out)."""
    events = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
