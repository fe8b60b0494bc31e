"""The local Ray cluster a sweep starts listens on loopback only, and its token file is
readable by its owner only: another machine cannot reach a port, another user cannot read
the token. (Ray on Linux binds all interfaces unless told the node is loopback; its token
file is written 0644.)"""

from __future__ import annotations

import stat
import time
from pathlib import Path

import psutil

from tests.faults.test_ray_auth import start_sweep

LOOPBACK = ("127.", "::1", "::ffff:127.")


def listening(driver: psutil.Process) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every TCP socket the driver and its descendants
    listen on, now."""
    out = set()
    for process in [driver, *driver.children(recursive=True)]:
        try:
            name = process.name()
            sockets = process.net_connections("tcp")
        except psutil.Error:
            continue
        out |= {(name, c.laddr.ip, c.laddr.port) for c in sockets if c.status == "LISTEN"}
    return out


def test_a_sweeps_ray_cluster_listens_on_loopback_only_and_keeps_its_token_private(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    token = home / ".ray" / "auth_token"
    token.write_text("5e" * 32)  # a token an earlier Ray wrote, with Ray's mode
    token.chmod(0o644)
    driver, _ = start_sweep(tmp_path, HOME=str(home))
    seen: set[tuple[str, str, int]] = set()
    try:
        process = psutil.Process(driver.pid)
        # Sample while the sweep runs: engines, workers and agents start at their own times.
        deadline = time.monotonic() + 300
        while driver.poll() is None and time.monotonic() < deadline:
            seen |= listening(process)
            time.sleep(0.5)
        out, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, out[-2000:]
    finally:
        if driver.poll() is None:
            driver.kill()
    names = {name for name, _, _ in seen}
    assert any("gcs_server" in n for n in names) and any("raylet" in n for n in names), seen
    outside = sorted(s for s in seen if not s[1].startswith(LOOPBACK))
    assert not outside, f"listening outside loopback: {outside}"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert token.read_text() == "5e" * 32  # the token itself is Ray's, left as it was
