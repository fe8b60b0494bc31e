"""Resume after the driver is SIGKILLed mid-sweep: the same command finishes the sweep,
no row is duplicated or missing, and shards finished before the kill are not regenerated."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.conftest import REPO, sweep_args

pytestmark = pytest.mark.slow

TOTAL_SHARDS = 4 * 12  # 4 cells x 12 prompts, one prompt per shard


def command(output_root: Path) -> list[str]:
    overrides = [
        "tracker=none",
        "shard_size=1",
        "sampling.max_tokens=48",
        "engine.shards_in_flight=1",
    ]
    return [sys.executable, "-m", "orchestrator", *sweep_args(output_root, *overrides)]


def shard_files(output_root: Path) -> dict[Path, tuple[int, int]]:
    files = (output_root / "tiny" / "results").rglob("*.parquet")
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def test_driver_sigkill_then_rerun_completes_without_rework(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        command(tmp_path),
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while len(shard_files(tmp_path)) < 3:  # kill once a few shards are written
            assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "no shard written in 300 s"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        before = shard_files(tmp_path)
        assert 3 <= len(before) < TOTAL_SHARDS, "the kill must land mid-sweep"
        # The same command again.
        rerun = subprocess.run(
            command(tmp_path), cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    finally:
        with contextlib.suppress(ProcessLookupError):  # what the killed driver left running
            os.killpg(driver.pid, signal.SIGKILL)
    after = shard_files(tmp_path)
    assert len(after) == TOTAL_SHARDS
    assert {p: after[p] for p in before} == before, "shards written before the kill were rewritten"
    assert (
        f"{TOTAL_SHARDS - len(before)} rows written in {TOTAL_SHARDS - len(before)} shards"
        in rerun.stdout
    )
    table = ds.dataset(
        tmp_path / "tiny" / "results", format="parquet", partitioning="hive"
    ).to_table()
    keys = list(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 4 * 12
