"""A model replica's process is SIGKILLed mid-sweep: Ray restarts it, re-runs its in-flight
shards, and the sweep completes in the same invocation with no row missing or doubled."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


def kill_engine_after(results: Path, files: int, killed: dict[str, int]) -> None:
    import ray

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done = len(list(results.rglob("*.parquet"))) if results.is_dir() else 0
        names = [n for n in ray.util.list_named_actors() if n.startswith("mosweep:tiny:")]
        if done >= files and names:
            pid = ray.get(ray.get_actor(names[0]).pid.remote())
            os.kill(pid, signal.SIGKILL)
            killed.update(pid=pid, files_at_kill=done)
            return
        time.sleep(0.02)


def test_engine_process_killed_mid_shard_completes_without_rerun(tmp_path: Path) -> None:
    results = tmp_path / "tiny" / "results"
    killed: dict[str, int] = {}
    killer = threading.Thread(target=kill_engine_after, args=(results, 2, killed), daemon=True)
    killer.start()
    # Small batches: the sweep takes long enough for the kill to land with shards in flight.
    report = run(
        sweep_args(
            tmp_path,
            "tracker=none",
            "shard_size=1",
            "engine.max_num_seqs=4",
            "sampling.max_tokens=32",
        )
    )
    killer.join(timeout=5)
    assert killed, "the engine was never killed"
    assert 2 <= killed["files_at_kill"] < 48, "the kill must land mid-sweep"
    assert report.failures == []
    table = ds.dataset(results, format="parquet", partitioning="hive").to_table(
        ["cell_id", "prompt_id"]
    )
    keys = list(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 48
