"""Ray's shutdown puts back, below Python, the signal actions it found at ray.init: a
SIGTERM after it killed the driver at once, though Python still reported its handler (the
fault suite's second-SIGTERM test ended -15 instead of 143). cluster.shutdown sets the
handlers again."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import os, signal, time
import ray
from orchestrator import cluster
signal.signal(signal.SIGTERM, lambda s, f: print("handled", flush=True))
ray.init(num_cpus=1, include_dashboard=False)
signal.signal(signal.SIGTERM, lambda s, f: print("handled", flush=True))
cluster.shutdown() if SHUTDOWN == "ours" else ray.shutdown()
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(0.5)
print("alive", flush=True)
"""


def after(shutdown: str) -> subprocess.CompletedProcess[str]:
    code = f"SHUTDOWN = {shutdown!r}\n{SCRIPT}"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_a_sigterm_after_the_shutdown_reaches_the_driver_s_handler() -> None:
    done = after("ours")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["handled", "alive"]
    # Ray's own shutdown: the process dies of the signal (what the fix is for)
    assert after("ray's").returncode == -15
