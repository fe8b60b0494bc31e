"""One process at a time prepares a model folder (two sweeps may start at once)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def prepare_lock(target: Path) -> Iterator[None]:
    """Serialise preparation of one model folder across processes (two sweeps at once)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
