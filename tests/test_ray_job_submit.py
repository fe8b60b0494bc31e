"""The README's `ray job submit` recipe against a real Ray head on this machine: the driver
runs in Ray's unpacked copy of `--working-dir`, writes to the absolute `output_root` it is
given (where the README says to look), and the same submission again resumes from there;
a relative `output_root` is refused with one line before any shard runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_cluster_recipes import free_port

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))
SWEEP = ["+sweep=tiny", "tracker=none", "sampling.max_tokens=16"]


@pytest.fixture
def head(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Ray head with token auth, its job API on loopback; yields (job address, the
    environment a client needs: the token and `python` of this interpreter first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": os.urandom(32).hex(),
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        }
    )
    port, dashboard = free_port(), free_port()
    # A short temp folder (Ray's socket paths must fit in 107 bytes); stopped by ending its
    # `--block` process, never `ray stop`, which would stop every other Ray of this user.
    temp = Path(tempfile.mkdtemp(prefix="rj-", dir="/tmp"))
    ray = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            # Every port of its own: the test session's local cluster holds Ray's defaults
            # (the dashboard agent's 52365 among them), and a head whose agent cannot bind
            # takes no job ("No available agent to submit job").
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            "--num-cpus=2",
            f"--temp-dir={temp}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        address = f"http://127.0.0.1:{dashboard}"
        deadline = time.monotonic() + 240
        while not answers(f"{address}/api/version"):  # the job API starts after the head
            assert ray.poll() is None and time.monotonic() < deadline, "the job API did not start"
            time.sleep(3)
        yield address, env
    finally:
        ray.terminate()
        ray.wait(timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def answers(url: str) -> bool:
    """Whether an HTTP server answers at `url` (any status: a refusal is an answer too)."""
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


def submit(address: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The README's command: `ray job submit --address ... --working-dir . -- python -m
    orchestrator ...`, from the repository's folder."""
    command = [RAY, "job", "submit", "--address", address, "--working-dir", "."]
    command += ["--", "python", "-m", "orchestrator", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def test_ray_job_submit_writes_to_the_absolute_output_root_and_resumes(
    head: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    address, env = head
    runs = tmp_path / "runs"
    first = submit(address, env, *SWEEP, "ray.address=auto", f"output_root={runs}")
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "48 rows written in 12 shards, 0 failed" in first.stdout
    shards = {p: p.stat().st_mtime_ns for p in (runs / "tiny" / "results").rglob("*.parquet")}
    assert len(shards) == 12 and (runs / "tiny" / "report" / "report.html").is_file()
    again = submit(address, env, *SWEEP, "ray.address=auto", f"output_root={runs}")
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "0 rows written" in again.stdout or "nothing to run" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in shards} == shards  # resumed: nothing rewritten
    refused = submit(address, env, *SWEEP, "ray.address=auto", "output_root=runs")
    assert refused.returncode != 0
    assert "output_root='runs' is relative" in refused.stdout + refused.stderr
