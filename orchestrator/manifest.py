"""The manifest: which result and score files are finished, and what their bytes are.

`<sweep>/manifest.jsonl` holds one line per finished file, appended and flushed to the disk
once the file's bytes are on the disk and before it is renamed into place (jobs/durable.py):
its path under the sweep folder, its row count, its size and the SHA-256 of its bytes. A
file is done only when it is listed and its bytes still match, so a copy under another
name, a file another tool put there, or one whose bytes changed since (a flipped bit, an
edit, a copy cut short) is never counted: the store sets it aside and its shard runs
again. Parquet's own page checksums do not cover this: a flip in the footer or in an
uncompressed page's values can read back as other values with no error.

So a file under its final name always has its line; a kill between the line and the rename
leaves a line without a file, which lists nothing that exists (the shard runs again). A
torn last line is skipped, and the next line starts on a line of its own. A later line for
the same file (it was made again) replaces the earlier one.

A sweep folder written before the manifest existed has none: its whole files are listed
once, as found, and that is said in one line.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from jobs import durable

MANIFEST = "manifest.jsonl"
# SHA-256 of files already read in this process, by (path, size, mtime): a report reads the
# same files more than once.
_DIGESTS: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Entry:
    rows: int
    size: int
    sha256: str


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes (remembered for this size and modification time)."""
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = durable.sha256(path)
    return _DIGESTS[key]


def forget_digests() -> None:
    """Hash every file again from now on (what a new invocation does)."""
    _DIGESTS.clear()


class Manifest:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / MANIFEST
        # Read once per Manifest (a store's lives for the run, whose only writer it is:
        # the sweep lock), then kept up to date by record(): a judge stage checks every
        # scores file, and must not parse the whole manifest for each.
        self._entries: dict[str, Entry] | None = None
        # The shard writer and judging along with generation record from their own threads:
        # one line at a time, whole, and announced in the order written.
        self._lock = threading.Lock()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def entries(self) -> dict[str, Entry]:
        """Every file listed, by its path under the sweep folder (the last line wins); a line
        that does not parse (torn, or changed on disk) lists nothing."""
        if self._entries is not None:
            return self._entries
        found: dict[str, Entry] = {}
        if not self.exists:
            return found
        with open(self.path, "rb") as f:
            for raw in f:
                try:
                    line = json.loads(raw)
                    found[str(line["file"])] = Entry(
                        int(line["rows"]), int(line["bytes"]), str(line["sha256"])
                    )
                except (ValueError, KeyError, TypeError):
                    continue
        self._entries = found
        return found

    def record(self, path: Path, rows: int, contents: Path | None = None) -> None:
        """List the file `path`, whose bytes are those of `contents` (its temporary file,
        about to be renamed to it; by default, `path` itself)."""
        source = contents or path
        entry = Entry(rows, source.stat().st_size, digest(source))
        if contents is not None:  # the rename keeps size and time: the file is hashed once
            _DIGESTS[(str(path), entry.size, contents.stat().st_mtime_ns)] = entry.sha256
        line = {"file": self._name(path), "rows": rows, "bytes": entry.size, "sha256": entry.sha256}
        with self._lock:
            self._append(line, entry)

    def _append(self, line: dict[str, object], entry: Entry) -> None:
        torn = self.exists and self._ends_mid_line()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(("\n" if torn else "") + json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        durable.announce(self.path)  # on an object store: listed before the file is there
        if self._entries is not None:
            self._entries[str(line["file"])] = entry

    def mismatch(self, path: Path, listed: dict[str, Entry]) -> str | None:
        """None when `path` is listed and its bytes match; else why it is not done."""
        entry = listed.get(self._name(path))
        if entry is None:
            return (
                f"is not listed in {MANIFEST} (not written by this sweep, or its record was lost)"
            )
        if entry.size != path.stat().st_size or entry.sha256 != digest(path):
            return f"does not match its {MANIFEST} record (its bytes changed since it was written)"
        return None

    def _name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _ends_mid_line(self) -> bool:
        with open(self.path, "rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
