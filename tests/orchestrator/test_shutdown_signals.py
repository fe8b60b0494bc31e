"""Ray 2.60's driver shutdown sets SIGTERM's action back to the default below Python when it
stops its core worker, then takes about a second to stop Ray's processes: a SIGTERM in that
second killed the driver at once, though Python still reported its handler (the fault
suite's second-SIGTERM test ended -15 instead of 143). cluster.shutdown keeps the handlers
throughout."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

# The SIGTERM comes while Ray stops its processes (0.2 s after the core worker stopped),
# or after the whole shutdown.
SCRIPT = """
import os, signal, time
import ray
import ray._private.worker as worker
from orchestrator import cluster
signal.signal(signal.SIGTERM, lambda s, f: print("handled", flush=True))
ray.init(num_cpus=1, include_dashboard=False)
signal.signal(signal.SIGTERM, lambda s, f: print("handled", flush=True))
if WHEN == "during":
    kill_all = worker._global_node.kill_all_processes
    def signalled(*args, **kwargs):
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        return kill_all(*args, **kwargs)
    worker._global_node.kill_all_processes = signalled
cluster.shutdown() if SHUTDOWN == "ours" else ray.shutdown()
if WHEN == "after":
    os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.5)
print("alive", flush=True)
"""


def signalled(shutdown: str, when: str) -> subprocess.CompletedProcess[str]:
    code = f"SHUTDOWN = {shutdown!r}\nWHEN = {when!r}\n{SCRIPT}"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_a_sigterm_during_the_shutdown_reaches_the_driver_s_handler() -> None:
    done = signalled("ours", "during")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["handled", "alive"]
    # Ray's own shutdown: the process dies of the signal (what the fix is for)
    assert signalled("ray's", "during").returncode == -15


def test_a_sigterm_after_the_shutdown_reaches_the_driver_s_handler() -> None:
    done = signalled("ours", "after")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["handled", "alive"]
    assert signalled("ray's", "after").returncode == -15
