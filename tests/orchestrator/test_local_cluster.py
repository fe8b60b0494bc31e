"""A local cluster as the run starts it (orchestrator/cluster.py), each in a process of its
own: a task killed for memory fails its node after a few kills, and a second cluster in one
process keeps its own spilling folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO


def python(script: str, **env: str) -> str:
    """Run a script in a new process (no cluster of the test session's); its stdout."""
    environ = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    environ.update(env, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=environ,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


KILLED_FOR_MEMORY = """
import time
from pathlib import Path
from tests.orchestrator.test_tasks import runner, sleeper
from orchestrator.cluster import _init
from orchestrator.config.groups import RayConfig

_init(RayConfig(num_cpus=1), Path({sweep!r}))
tasks = runner(Path({sweep!r}))
tasks.add(*sleeper(600, 1))
started = time.monotonic()
while tasks.busy and time.monotonic() - started < 120:
    tasks.poll(0.5)
print("node:", "busy" if tasks.busy else tasks.failures[0].error, flush=True)
"""


def test_a_task_killed_for_memory_fails_its_node_instead_of_restarting_forever(
    tmp_path: Path,
) -> None:
    """A local cluster as the run starts it, on a machine its memory monitor thinks full:
    the task is killed, started again a few times, then its node fails (Ray's default
    starts it again forever: the run would hang)."""
    script = KILLED_FOR_MEMORY.format(sweep=str(tmp_path / "s"))
    # every worker is over this share of the machine's memory
    out = python(script, RAY_memory_usage_threshold="0.0001")
    # Ray's raylet prints to the same stdout
    (line,) = [line for line in out.splitlines() if line.startswith("node: ")]
    assert "OutOfMemoryError" in line and "low on memory" in line, line


SPILLING = """
from pathlib import Path
import ray
from orchestrator.cluster import _init
from orchestrator.config.groups import RayConfig

for sweep in {sweeps!r}:
    _init(RayConfig(num_cpus=1), Path(sweep))
    node = ray._private.worker._global_node
    print("spilling:", node._ray_params._system_config["object_spilling_config"])
    print("session:", node.get_session_dir_path(), flush=True)
    ray.shutdown()
"""


def test_a_second_local_cluster_in_one_process_spills_into_its_own_folder(
    tmp_path: Path,
) -> None:
    """ray.init adds its session's spilling folder to the settings dict it is given; one
    dict shared by every run sent the next run's spilled objects to the first one's folder
    (in another sweep) and made Ray warn of an unstable API."""
    sweeps = [str(tmp_path / "a"), str(tmp_path / "b")]
    out = python(SPILLING.format(sweeps=sweeps)).splitlines()
    spilling = [line.removeprefix("spilling: ") for line in out if line.startswith("spilling: ")]
    sessions = [line.removeprefix("session: ") for line in out if line.startswith("session: ")]
    assert len(sessions) == 2 and sessions[0] != sessions[1]
    for spilled, session in zip(spilling, sessions, strict=True):
        assert f'"directory_path": "{session}"' in spilled
