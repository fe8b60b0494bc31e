"""Two invocations on one sweep folder (a second terminal, a re-submitted cluster job): the
second stops at once with one line naming the first, and every row is stored once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.errors import UserError
from orchestrator.lock import SweepLock
from orchestrator.run import run
from tests.conftest import sweep_args

ROOT = Path(__file__).resolve().parents[2]


def test_a_second_writer_is_refused_and_readers_still_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = SweepLock(tmp_path / "tiny")
    holder.acquire()
    try:
        args = sweep_args(tmp_path, "engine=fake", "tracker=none")
        with pytest.raises(
            UserError, match=rf"in use by another invocation \(host .*, pid {os.getpid()}, since 20"
        ):
            run(args)
        run([*args, "mode=status"])  # reads only: no lock needed
        assert "0/4 cells complete" in capsys.readouterr().out
    finally:
        holder.release()


def test_two_concurrent_invocations_one_runs_one_exits_2(tmp_path: Path) -> None:
    env = dict(os.environ)
    base = [sys.executable, "-m", "orchestrator", "+sweep=tiny", "engine=fake", "tracker=none"]
    base.append(f"output_root={tmp_path}")
    first = subprocess.Popen(
        [*base, "shard_size=4"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lock = tmp_path / "tiny" / ".lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text()):  # the first holds the folder
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run(
        [*base, "shard_size=5"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err.decode()[-2000:]
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr
    assert json.loads(lock.read_text() or "{}") == {}  # released at the end
    table = ds.dataset(tmp_path / "tiny" / "results", format="parquet").to_table()
    keys = list(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 4 * 12
