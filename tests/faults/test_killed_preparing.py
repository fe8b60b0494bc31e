"""The driver is SIGKILLed while it prepares the run (its sweep folder locked, Ray starting
while every request is checked against its context window, nothing recorded yet), then the
same command runs again: every row is generated once, as after a kill mid-run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyarrow.dataset as ds

from orchestrator.lock import LOCK_FILE
from tests.conftest import REPO
from tests.faults.test_driver_killed import TOTAL_SHARDS, command, kill_when, shard_files


def test_driver_killed_while_preparing_then_rerun_writes_every_row_once(tmp_path: Path) -> None:
    sweep = tmp_path / "tiny"
    log = tmp_path / "first.log"
    driver = subprocess.Popen(
        command(tmp_path),
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # config.yaml is written once every check has passed: before it, the driver prepares
    preparing = lambda: (sweep / LOCK_FILE).exists() and not (sweep / "config.yaml").exists()  # noqa: E731
    kill_when(driver, preparing, log)
    assert shard_files(tmp_path) == {}, "killed before any shard ran"
    rerun = subprocess.run(command(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert f"{TOTAL_SHARDS} rows written in {TOTAL_SHARDS} shards" in rerun.stdout
    table = ds.dataset(sweep / "results", format="parquet").to_table(
        ["cell_id", "prompt_id", "sample_idx"]
    )
    keys = set(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))
    assert len(keys) == table.num_rows == TOTAL_SHARDS
