"""Taking what threads handed over: every item a queue holds now, waiting a while for the
first (the writer's written shards, the worker thread's finished nodes)."""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def take_all(items: queue.Queue[T] | queue.SimpleQueue[T], timeout: float) -> list[T]:
    """Every item queued now, waiting up to `timeout` seconds for one when there is none."""
    found: list[T] = []
    try:
        found.append(items.get(timeout=timeout) if timeout else items.get_nowait())
        while True:
            found.append(items.get_nowait())
    except queue.Empty:
        pass
    return found
