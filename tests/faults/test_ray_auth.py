"""The local Ray cluster a sweep starts keeps Ray's token authentication on: a client
without the token cannot join it (and so cannot run code in the driver's environment or
read its tokens), even from this machine, where the cluster's loopback ports are in reach
(test_ray_ports.py: nothing listens elsewhere). cluster.yaml keeps the dashboard and job
API on the head's loopback and token auth on every node."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import yaml

from tests.conftest import REPO, sweep_args

JOIN = "import ray, sys; ray.init(address=sys.argv[1]); print('joined')"


def gcs_address(driver: psutil.Process, deadline: float) -> str:
    """host:port of the GCS server the driver started (a child process)."""
    while time.monotonic() < deadline:
        for child in driver.children(recursive=True):
            try:
                if "gcs_server" not in " ".join(child.cmdline()):
                    continue
                ports = [c.laddr for c in child.net_connections("tcp") if c.status == "LISTEN"]
            except psutil.Error:
                continue
            flags = " ".join(child.cmdline())
            port = next(
                (a.port for a in ports if f"--gcs_server_port={a.port}" in flags),
                ports[0].port if ports else None,
            )
            if port is not None:
                host = next((a.ip for a in ports if a.ip not in ("0.0.0.0", "::")), "127.0.0.1")
                return f"{host.removeprefix('::ffff:')}:{port}"  # an IPv4-mapped address
        time.sleep(0.2)
    raise AssertionError("no GCS server found")


def intrude(address: str, env: dict[str, str]) -> tuple[bool, str]:
    """Try to join; True when the cluster refused for want of the right token (ray.init
    retries for minutes, so it is stopped once the refusal shows)."""
    client = subprocess.Popen(
        [sys.executable, "-c", JOIN, address],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said = ""
    assert client.stdout is not None
    try:
        for line in client.stdout:
            said += line
            if "joined" in line:
                return False, said
            if "Authentication token is missing or incorrect" in line:
                return True, said
        return False, said
    finally:
        client.kill()
        client.wait()


def start_sweep(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A sweep driver (tiny, real vLLM, one prompt per shard: a minute of work) in its own
    process, with Ray's auth settings of this environment left out; and its environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    environment.update(env)
    args = sweep_args(tmp_path, "tracker=none", "sampling.max_tokens=48", "shard_size=1")
    driver = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return driver, environment


def test_a_client_without_the_token_cannot_join_a_sweeps_cluster(tmp_path: Path) -> None:
    driver, env = start_sweep(tmp_path)
    try:
        address = gcs_address(psutil.Process(driver.pid), time.monotonic() + 120)
        for auth in (
            {"RAY_AUTH_MODE": "disabled"},
            {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "guess"},
        ):
            # The cluster listens on loopback only: a client on this machine reaches it only
            # when Ray does not swap 127.0.0.1 for the node's address (Ray's flag for a
            # single-machine cluster). The token must stop it there.
            local = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
            refused, said = intrude(address, {**env, **auth, **local})
            assert refused, (auth, said[-1000:])
        out, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, out[-2000:]
    finally:
        if driver.poll() is None:
            driver.kill()


def test_cluster_yaml_keeps_the_dashboard_on_loopback_and_auth_on() -> None:
    config = yaml.safe_load((REPO / "cluster.yaml").read_text())
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    ray_starts = [c for c in starts if "ray start" in c]
    assert ray_starts and all("RAY_AUTH_MODE=token" in c for c in ray_starts)
    head = next(c for c in config["head_start_ray_commands"] if "--head" in c)
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    assert "~/.ray/auth_token" in config["file_mounts"]
