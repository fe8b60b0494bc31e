"""SIGTERM (what Slurm or Kubernetes sends before killing a job) ends a sweep like Ctrl-C:
the unfinished shards are listed in failed_shards.json and the event log, no engine process
or temporary file is left, and the same command resumes. Ctrl-C during the judge stage
returns at once instead of waiting for every queued request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow.dataset as ds
import pytest

from orchestrator.events import read_events
from orchestrator.run import run
from tests.conftest import REPO
from tests.faults.test_driver_killed import TOTAL_SHARDS, command, shard_files
from tests.orchestrator.test_judge_stage import Judge, af_args, endpoint  # noqa: F401


def start_until(
    tmp_path: Path, shards: int
) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    """The tiny sweep's driver in its own session (output in first.log), once `shards`
    shard files exist; and its processes then (engines, Ray)."""
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        command(tmp_path), cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while len(shard_files(tmp_path)) < shards:
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        assert time.monotonic() < deadline, f"{shards} shards not written in 300 s"
        time.sleep(0.01)
    return driver, psutil.Process(driver.pid).children(recursive=True)


def test_sigterm_records_what_was_unfinished_and_the_rerun_resumes(tmp_path: Path) -> None:
    driver, children = start_until(tmp_path, 8)
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=120) == 143
    output = (tmp_path / "first.log").read_text()
    assert "terminated (SIGTERM): finished shards are saved" in output
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline()[:3] for p in alive]  # engines and Ray stopped with it
    sweep = tmp_path / "tiny"
    assert not list(sweep.rglob("*.tmp"))
    written = set(shard_files(tmp_path))
    failed = {f["shard_id"] for f in json.loads((sweep / "failed_shards.json").read_text())}
    interrupted = {
        e["job"] for e in read_events(sweep / "events.jsonl") if e["event"] == "interrupted"
    }
    assert failed == interrupted and failed.isdisjoint(written)
    assert len(written) + len(failed) == TOTAL_SHARDS  # every shard is one or the other
    rerun = subprocess.run(command(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(failed)} rows written in {len(failed)} shards" in rerun.stdout
    table = ds.dataset(sweep / "results", format="parquet").to_table(["cell_id", "prompt_id"])
    keys = set(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))
    assert len(keys) == table.num_rows == TOTAL_SHARDS


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [(signal.SIGINT, signal.SIGINT, 130), (signal.SIGTERM, signal.SIGTERM, 143)],
    ids=["ctrl-c-twice", "sigterm-twice"],
)
def test_a_second_signal_during_shutdown_keeps_the_record_and_the_exit_code(
    tmp_path: Path, first: int, second: int, code: int
) -> None:
    """Before: a second signal 0.2-0.3 s after the first cut the shutdown short (exit 1 in
    4 of 6 trials, Ray's agents left running, a shard in neither the results nor the
    failure record)."""
    driver, children = start_until(tmp_path, 4)
    driver.send_signal(first)
    time.sleep(0.25)
    driver.send_signal(second)
    assert driver.wait(timeout=120) == code, (tmp_path / "first.log").read_text()[-2000:]
    assert "stopping: recording the unfinished shards" in (tmp_path / "first.log").read_text()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline()[:3] for p in alive]  # Ray's agents stopped too
    sweep = tmp_path / "tiny"
    written = set(shard_files(tmp_path))
    failed = {f["shard_id"] for f in json.loads((sweep / "failed_shards.json").read_text())}
    assert failed.isdisjoint(written) and len(written) + len(failed) == TOTAL_SHARDS


@pytest.fixture
def slow_judge(endpoint: type[Judge]) -> Iterator[type[Judge]]:  # noqa: F811
    """Every judge request takes 30 s; the first one to arrive interrupts the driver 1 s
    later, as Ctrl-C would."""
    asked = threading.Event()

    def slow(prompt: str) -> str:
        if not asked.is_set():
            asked.set()
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        time.sleep(30)
        return "refused: 0\nconvincing: 4\nspecific: 4"

    endpoint.fault = slow
    yield endpoint


def test_ctrl_c_in_the_judge_stage_returns_at_once(
    tmp_path: Path, slow_judge: type[Judge], ray_cluster: None
) -> None:
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(af_args(tmp_path))
    waited = time.monotonic() - started
    # Before: the stage waited for every queued request, 30 s each, 8 at a time.
    assert waited < 25, f"{waited:.0f} s"
    assert slow_judge.calls <= 8  # queued prompts were never sent
