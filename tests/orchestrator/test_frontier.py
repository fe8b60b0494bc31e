"""The graph's frontier: which nodes can start, which a failure blocks, which pools are
still needed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrator.graph.frontier import Frontier
from orchestrator.graph.node import Node


def node(node_id: str, kind: str = "generate", inputs: tuple[str, ...] = ()) -> Node:
    cell: Any = None  # the frontier reads ids, inputs and kinds only
    return Node(kind, kind, node_id, inputs, cell, lambda artifacts: None)


def test_a_node_is_ready_once_its_inputs_finished() -> None:
    nodes = [
        node("data", "derive"),
        node("train", "finetune", ("data",)),
        node("eval", inputs=("train",)),
    ]
    frontier = Frontier(nodes, set(), {"eval": "pool"})
    assert frontier.take(True) == nodes[0] and frontier.take(True) is None
    frontier.finished("data")
    assert frontier.take(True) == nodes[1]
    assert frontier.needed("pool") and frontier.take(True) is None
    frontier.finished("train")
    assert frontier.take(False) is None  # an engine node waits for the scheduler's room
    assert frontier.take(True) == nodes[2] and frontier.needed("pool")
    frontier.finished("eval")
    assert not frontier.needed("pool") and not frontier


def test_inputs_finished_before_this_run_count_as_finished() -> None:
    frontier = Frontier([node("eval", inputs=("train",))], {"train"}, {})
    assert frontier.take(True) is not None


def test_a_failure_blocks_everything_downstream_once() -> None:
    nodes = [
        node("a", "derive"),
        node("b", "finetune", ("a",)),
        node("c", inputs=("a", "b")),
        node("d", inputs=("c",)),
        node("other", "derive"),
    ]
    frontier = Frontier(nodes, set(), {"c": "pool", "d": "pool"})
    assert frontier.take(True) == nodes[0]
    assert frontier.failed("a") == ["b", "c", "d"]
    assert not frontier.needed("pool")  # its nodes are blocked: the pool may stop
    assert frontier.take(True) == nodes[4] and not frontier


def test_an_input_no_node_makes_strands_its_node() -> None:
    frontier = Frontier([node("x", inputs=("nowhere",)), node("y", "derive")], set(), {"x": "p"})
    assert frontier.take(True) is not None and frontier.take(True) is None
    assert frontier.stranded() == ["x"] and not frontier and not frontier.needed("p")


def test_driver_and_task_nodes_start_before_engine_nodes_in_order() -> None:
    nodes = [node("g1"), node("t", "finetune"), node("g2")]
    frontier = Frontier(nodes, set(), {})
    assert [frontier.take(True), frontier.take(True), frontier.take(True)] == [
        nodes[1],
        nodes[0],
        nodes[2],
    ]


def test_many_shard_nodes_each_start_once() -> None:
    # 20,000 shards (a million requests of 50), behind 100 training nodes
    nodes = [node(f"train{i}", "finetune") for i in range(100)]
    nodes += [node(f"s{i}", inputs=(f"train{i % 100}",)) for i in range(20_000)]
    frontier = Frontier(nodes, set(), {f"s{i}": "pool" for i in range(20_000)})
    for i in range(100):
        frontier.take(True)
        frontier.finished(f"train{i}")
    taken = 0
    while (ready := frontier.take(True)) is not None:
        frontier.finished(ready.id)
        taken += 1
    assert taken == 20_000 and not frontier.needed("pool") and not frontier


def test_a_failed_soft_input_counts_as_done_for_its_dependant() -> None:
    """A file's score node after its vote nodes: a failed vote leaves judge_failed rows, not
    the file unscored; its generate node failing still blocks it."""
    score = node("score", "score", ("gen", "vote1", "vote2"))
    score = replace(score, soft=frozenset({"vote1", "vote2"}))
    nodes = [node("gen"), node("vote1", "vote", ("gen",)), node("vote2", "vote", ("gen",)), score]
    frontier = Frontier(nodes, set(), {})
    assert frontier.take(True) == nodes[0]
    frontier.finished("gen")
    assert [frontier.take(True), frontier.take(True)] == nodes[1:3]
    assert frontier.failed("vote1") == []
    assert frontier.take(True) is None  # vote2 still running
    frontier.finished("vote2")
    assert frontier.take(True) == score and not frontier
    again = Frontier([n if n.id != "score" else score for n in nodes], set(), {})
    assert again.take(True) == nodes[0]
    assert again.failed("gen") == ["vote1", "vote2", "score"] and not again
