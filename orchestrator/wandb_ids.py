"""Each W&B run's id and next step, kept in the sweep folder (`tracker.json`).

A re-run of the same command (a resumed sweep, a report rebuilt, a training job retried)
opens the run it opened before, so W&B shows one run per sweep folder and invocation kind,
its steps continuing. The ids live in the folder, not in a hash of its path: a folder
copied to another machine, or synced through an object store, keeps its runs. Only the
driver writes it (trackers live there), under a lock.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import uuid
from pathlib import Path

FILE = "tracker.json"
_LOCK = threading.Lock()


def kind(job_type: str, name: str | None) -> str:
    """The key of an invocation kind: `sweep`, `report/<name>`, `train/<name>`."""
    return job_type if job_type == "sweep" or not name else f"{job_type}/{name}"


def _read(folder: Path) -> dict[str, dict[str, object]]:
    try:
        found = json.loads((folder / FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # none yet, or unreadable: new runs (W&B is a mirror, never the truth)
    return found if isinstance(found, dict) else {}


def recall(folder: Path, key: str) -> tuple[str, int, bool]:
    """The run id of `key` in this folder, the step it reached and True; or a new id, 0 and
    False."""
    entry = _read(folder).get(key)
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        step = entry.get("step")
        return str(entry["id"]), step if isinstance(step, int) else 0, True
    return secrets.token_hex(6), 0, False


def remember(folder: Path, key: str, run_id: str, step: int) -> None:
    with _LOCK:
        ids = _read(folder)
        ids[key] = {"id": run_id, "step": step}
        temporary = folder / f".{FILE}.{uuid.uuid4().hex[:8]}.tmp"
        temporary.write_text(json.dumps(ids, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temporary, folder / FILE)
