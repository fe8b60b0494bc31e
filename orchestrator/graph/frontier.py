"""The nodes of a graph still to start, and which of them can start now.

A node is ready once every input has finished; a failed node blocks its dependants, and
theirs, except those for which it is a soft input (`Node.soft`): for them it is done.
Finishing or failing a node costs its own dependants, never a pass over the whole graph, so
a grid of tens of thousands of shard nodes schedules in time per event, not per node. Ready
engine nodes wait in their own queue: the runner builds one (renders and tokenizes its
prompts) only when the scheduler has room for it, so the driver holds a window of built
batches, not the grid's.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque

from orchestrator.graph.node import Node


class Frontier:
    def __init__(self, nodes: list[Node], finished: set[str], keys: dict[str, str]) -> None:
        """`nodes`: those to run, in the order they should start; `keys`: engine node id ->
        the pool that serves it (a pool is needed while a node of it is left)."""
        self.pending: dict[str, Node] = {n.id: n for n in nodes}  # not started yet
        self.unmet: dict[str, int] = {}
        self.dependants: defaultdict[str, list[str]] = defaultdict(list)
        self.engine: deque[Node] = deque()  # ready, built when the scheduler has room
        self.other: deque[Node] = deque()  # ready driver and task nodes
        self.keys = keys
        self.left = Counter(keys[n.id] for n in nodes if n.id in keys)  # pool -> nodes left
        for node in nodes:
            unmet = {i for i in node.inputs if i not in finished}
            self.unmet[node.id] = len(unmet)
            for i in unmet:
                self.dependants[i].append(node.id)
            if not unmet:
                self._ready(node)

    def _ready(self, node: Node) -> None:
        (self.engine if node.spec.runs_on == "engine" else self.other).append(node)

    def take(self, engine_room: bool) -> Node | None:
        """The next node to start: a driver or task node first, then an engine node if
        `engine_room`; None when none is ready."""
        if self.other:
            node = self.other.popleft()
        elif engine_room and self.engine:
            node = self.engine.popleft()
        else:
            return None
        del self.pending[node.id]
        return node

    def finished(self, node_id: str) -> None:
        """A node's output exists: its dependants whose inputs now all exist are ready."""
        self._done(node_id)
        for dependant in self.dependants.pop(node_id, []):
            self._met(dependant)

    def _met(self, dependant: str) -> None:
        self.unmet[dependant] -= 1
        if self.unmet[dependant] == 0 and dependant in self.pending:
            self._ready(self.pending[dependant])

    def failed(self, node_id: str) -> list[str]:
        """A node failed: every node downstream of it is blocked (returned, in order), but
        where it (or a node it blocks) is a soft input: that dependant counts it as done."""
        self._done(node_id)
        blocked: list[str] = []
        todo = deque((node_id, d) for d in self.dependants.pop(node_id, []))
        while todo:
            failed, dependant = todo.popleft()
            node = self.pending.get(dependant)
            if node is None:
                continue  # blocked already, by another failed input
            if failed in node.soft:
                self._met(dependant)
                continue
            del self.pending[dependant]
            blocked.append(dependant)
            self._done(dependant)
            todo.extend((dependant, d) for d in self.dependants.pop(dependant, []))
        return blocked

    def stranded(self) -> list[str]:
        """Nodes that can never start (an input no node of this graph makes): all left
        pending once nothing is ready or running."""
        ids = sorted(self.pending)
        for node_id in ids:
            self._done(node_id)
        self.pending.clear()
        return ids

    def needed(self, key: str) -> bool:
        """Does a node not finished yet use this pool?"""
        return self.left[key] > 0

    def _done(self, node_id: str) -> None:
        key = self.keys.get(node_id)
        if key is not None:
            self.left[key] -= 1

    def __bool__(self) -> bool:
        return bool(self.pending)
