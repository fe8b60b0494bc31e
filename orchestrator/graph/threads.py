"""Nodes that run on the driver's worker thread (`runs_on="thread"`): work that reads and
writes files in the driver (a shard file's scores), beside the loop, which goes on
dispatching meanwhile.

One daemon thread takes every queued work at once and runs those with the same function in
one call, so a judge endpoint is asked as many prompts together as shard files were
written while its last call ran. A call that raises fails its nodes (recorded; the next run
does them again). An interrupted run waits a moment at most for the call in flight: every
output is put in place whole or not at all, so what it leaves is done again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from orchestrator.events import EventLog
from orchestrator.graph.node import Node, ThreadWork
from orchestrator.scheduler import Failure

# Seconds an interrupted run waits for the call in flight.
ABANDON_WAIT_S = 2.0


class ThreadRunner:
    def __init__(self, events: EventLog) -> None:
        self.events = events
        self.queued: queue.Queue[tuple[Node, ThreadWork] | None] = queue.Queue()
        self.finished: queue.Queue[tuple[Node, str | None]] = queue.Queue()
        self.open: dict[str, Node] = {}  # added, not yet polled back
        self.failures: list[Failure] = []
        self.stopping = False
        self.thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return bool(self.open)

    def add(self, node: Node, work: ThreadWork) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="mosweep-thread", daemon=True)
            self.thread.start()
        self.open[node.id] = node
        self.queued.put((node, work))

    def poll(self, timeout: float) -> list[Node]:
        """Nodes whose work finished (waits up to `timeout` for one); those that failed are
        recorded, not returned."""
        if not self.open:  # nothing to wait for
            return []
        out: list[tuple[Node, str | None]] = []
        try:
            out.append(
                self.finished.get(timeout=timeout) if timeout else self.finished.get_nowait()
            )
            while True:
                out.append(self.finished.get_nowait())
        except queue.Empty:
            pass
        done = []
        for node, error in out:
            self.open.pop(node.id, None)
            if error is None:
                done.append(node)
            else:
                self.events("failed", node.id, error=error)
                self.failures.append(Failure(node.id, node.cell.id, 1, error))
        return done

    def close(self) -> None:
        """No more work: the thread ends."""
        if self.thread is not None:
            self.queued.put(None)
            self.thread.join()

    def interrupted(self) -> None:
        """Start nothing more, wait a moment for the call in flight, and record every node
        not finished as failed ("interrupted")."""
        self.stopping = True
        if self.thread is not None:
            self.queued.put(None)
            self.thread.join(timeout=ABANDON_WAIT_S)
        self.poll(0)  # finished meanwhile: their outputs are in place
        for node in self.open.values():
            self.events("interrupted", node.id)
            self.failures.append(
                Failure(node.id, node.cell.id, 0, "interrupted before it finished")
            )
        self.open.clear()

    def _work(self) -> None:
        last = False
        while not last:
            batch = [self.queued.get()]
            while not self.queued.empty():
                batch.append(self.queued.get_nowait())
            last = None in batch
            groups: list[tuple[Callable[[list[Any]], None], list[Node], list[Any]]] = []
            for entry in batch:
                if entry is None:
                    continue
                node, work = entry
                group = next((g for g in groups if g[0] == work.run), None)
                if group is None:
                    group = (work.run, [], [])
                    groups.append(group)
                group[1].append(node)
                group[2].append(work.item)
            for run, nodes, items in groups:
                if self.stopping:
                    return
                error = None
                try:
                    run(items)
                except Exception as e:  # a full disk, a judge that cannot be reached
                    error = f"{type(e).__name__}: {e}"[:300]
                for node in nodes:
                    self.finished.put((node, error))
