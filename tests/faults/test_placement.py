"""Placement on a multi-node Ray cluster without GPUs: `ray.cluster_utils.Cluster` starts
three worker nodes on this machine, each advertising 2 GPUs (Ray's resource accounting
only; the fake engine serves, with a fixed latency per request so shards stay in flight).
A tensor-parallel-2 model gets 2 GPUs on one node, its replicas go to different nodes, and
removing a node mid-sweep reschedules its shards: the sweep completes, every row once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from jobs.engines.fake import LATENCY_ENV
from orchestrator.events import read_events
from orchestrator.run import run
from tests.conftest import start_local_ray, sweep_args

NODES = 3


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import ray
    from ray.cluster_utils import Cluster

    # Node processes inherit this process's environment, and the actors theirs.
    monkeypatch.setenv(LATENCY_ENV, "0.25")
    ray.shutdown()  # the suite's one-node cluster, restarted below
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [nodes.add_node(num_cpus=1, num_gpus=2) for _ in range(NODES)]
    ray.init(address=nodes.address)
    nodes.wait_for_nodes()
    try:
        yield nodes, workers
    finally:
        ray.shutdown()
        nodes.shutdown()
        start_local_ray()


def args(tmp_path: Path) -> list[str]:
    return sweep_args(
        tmp_path,
        "engine=fake",
        "engine.device=cuda",
        "engine.tensor_parallel_size=2",
        "engine.replicas=2",
        "engine.shards_in_flight=2",
        "shard_size=2",
        "tracker=none",
    )


def placements(sweep: Path) -> dict[int, dict[str, Any]]:
    return {e["replica"]: e for e in read_events(sweep / "events.jsonl") if e["event"] == "placed"}


def test_tensor_parallel_replicas_get_two_gpus_each_on_different_nodes(
    tmp_path: Path, cluster: Any
) -> None:
    report = run(args(tmp_path))
    assert not report.failures and report.rows_written == 48
    placed = placements(report.sweep_dir)
    assert sorted(placed) == [0, 1]
    assert all(len(p["gpus"]) == 2 for p in placed.values())  # TP 2: both GPUs on its node
    assert placed[0]["node"] != placed[1]["node"]  # SPREAD: replicas on different nodes


def test_removing_a_node_mid_sweep_reschedules_its_shards(tmp_path: Path, cluster: Any) -> None:
    nodes, workers = cluster
    removed: dict[str, Any] = {}

    def remove_a_busy_node() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            placed = placements(tmp_path / "tiny")
            done = list((tmp_path / "tiny" / "results").rglob("*.parquet"))
            if len(placed) == 2 and len(done) >= 2:
                victim = next(w for w in workers if w.node_id == placed[0]["node"])
                removed.update(node=victim.node_id, files=len(done))
                nodes.remove_node(victim)
                return
            time.sleep(0.05)

    remover = threading.Thread(target=remove_a_busy_node, daemon=True)
    remover.start()
    report = run(args(tmp_path))
    remover.join(timeout=5)
    assert removed, "no node was removed"
    assert removed["files"] < 24, "the node must go while shards are left"
    assert not report.failures and report.shards_run == 24
    table = ds.dataset(report.results, format="parquet").to_table(["cell_id", "prompt_id"])
    keys = list(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 48
