"""One way to put a file or a folder under its final name: write it under a temporary name
beside it, flush it to the disk, rename it into place, and flush the folder that holds it.

A final name therefore always means complete contents, also after a power loss or a
preempted VM: without the flushes, a rename can reach the disk before the data it names,
and an empty or cut file would sit under a final name. Readers skip dot-names; the driver
and the workers (LoRA jobs) both write through here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class Watcher(Protocol):
    def published(self, path: Path) -> None: ...  # a file or folder now final
    def removed(self, path: Path) -> None: ...  # a final file set aside or deleted


WATCHERS: list[Watcher] = []


def announce(path: Path) -> None:
    for watcher in WATCHERS:
        watcher.published(path)


def announce_removed(path: Path) -> None:
    for watcher in WATCHERS:
        watcher.removed(path)


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks (what a manifest, a weights identity
    and a published adapter's marker record)."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (names created, renamed or removed in it) to the disk."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def write_file(
    final: Path,
    write: Callable[[Path], object],
    ready: Callable[[Path], object] | None = None,
) -> Path:
    """`write(temporary)` fills a temporary file; it then becomes `final`, durably.
    `ready(temporary)` runs once the bytes are on the disk and before the rename (the
    store lists the file in its manifest there, so a file under its final name is always
    listed, even when the process is killed between the two)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(temporary)
        _sync_file(temporary)
        if ready is not None:
            ready(temporary)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_folder(final.parent)
    announce(final)
    return final


def write_text(final: Path, text: str) -> Path:
    return write_file(final, lambda path: path.write_text(text, encoding="utf-8"))


def staging_folder(final: Path) -> Path:
    """An empty folder beside `final` to build it in (a leftover of a killed build is
    removed first)."""
    staging = final.with_name(f".{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def publish_folder(staging: Path, final: Path) -> Path:
    """Flush every file of a built folder, then rename it to `final` (which must not
    exist) and flush the parent: the folder appears complete or not at all."""
    for path in [*staging.rglob("*"), staging]:
        if path.is_dir():
            sync_folder(path)
        else:
            _sync_file(path)
    os.replace(staging, final)
    sync_folder(final.parent)
    announce(final)
    return final
