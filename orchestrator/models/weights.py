"""The identity of a local weights folder: every file's name and content hash, so a folder
whose files change under the same name and path makes new cells instead of mixing two
models' rows in one.

Hashing reads every byte (about a second per GB), so each file's hash is kept under
`<cache>/weights/`, keyed by its path, size and modification time: a file rewritten in place
is hashed again, an unchanged one never is.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jobs import durable
from orchestrator.ids import stable_hash


def _files(folder: Path) -> list[Path]:
    """The folder's files, hidden ones (a hub client's .cache/) left out."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


@cache
def weights_hash(folder: Path, cache_root: Path) -> str:
    """A hash of the folder's file names and contents (cached per file, see above)."""
    store = cache_root / "weights" / f"{stable_hash(str(folder), 16)}.json"
    try:
        known: dict[str, str] = json.loads(store.read_text()) if store.is_file() else {}
    except (OSError, ValueError):
        known = {}  # an unreadable record: hash again
    seen: dict[str, str] = {}
    entries = []
    for file in _files(folder):
        name = str(file.relative_to(folder))
        stat = file.stat()
        key = f"{name}|{stat.st_size}|{stat.st_mtime_ns}"
        seen[key] = known.get(key) or durable.sha256(file)
        entries.append([name, seen[key]])
    if seen != known:
        durable.write_text(store, json.dumps(seen, indent=1))
    return stable_hash(entries, 16)
