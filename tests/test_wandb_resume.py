"""W&B the way its users expect, offline here: a sweep killed and run again logs to the same
run, its step counter going on; the run's summary holds the headline numbers; the results
are logged as an artifact that references the Parquet dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.faults.test_driver_killed import kill_when

pytestmark = pytest.mark.slow


def command(root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        "+sweep=af_grid",
        f"output_root={root}",
        "engine=fake",
        "judges=af_control",
        "tracker=wandb",
        "shard_size=5",
        "engine.shards_in_flight=1",
    ]


def environment(**extra: str) -> dict[str, str]:
    """A driver's own environment: without the W&B service this test process may have
    started (WANDB_SERVICE), which the killed driver's run would stay registered with, so
    the re-run's resume would be refused as "in use" (a separate driver has its own)."""
    return {**{k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}, **extra}


def records(run: Path) -> bytes:
    """The offline run's log (protobuf records): its keys and values are plain bytes."""
    return (run / f"run-{run.name.rsplit('-', 1)[-1]}.wandb").read_bytes()


def test_a_killed_sweep_resumes_its_run_with_summary_and_results(tmp_path: Path) -> None:
    sweep = tmp_path / "af_grid"
    log = tmp_path / "first.log"
    with log.open("w") as out:
        driver = subprocess.Popen(
            command(tmp_path),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment(PYTHONUNBUFFERED="1", MOSWEEP_FAKE_LATENCY_S="0.3"),
            start_new_session=True,
        )
        kill_when(driver, lambda: len(list(sweep.glob("results/*/*.parquet"))) >= 3, log)
    first = json.loads((sweep / "tracker.json").read_text())["sweep"]
    done = subprocess.run(
        command(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=600, env=environment()
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    again = json.loads((sweep / "tracker.json").read_text())["sweep"]
    said = next((line for line in done.stdout.splitlines() if line.startswith("W&B: ")), "")
    assert again["id"] == first["id"] and again["step"] > first["step"], (said, done.stderr)
    assert said.startswith(f"W&B: offline, run {first['id']} (resumed at step"), said
    runs = sorted((sweep / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and {r.name.rsplit("-", 1)[-1] for r in runs} == {first["id"]}
    logged = records(runs[-1])
    headline = (b"grid/rows", b"grid/gaps_above_zero", b"smollm2-135m/af_cot/free/compliance")
    assert all(key in logged for key in headline)  # the summary's headline numbers
    assert b"af_grid-results" in logged  # the artifact, referencing the Parquet folders
    assert (sweep / "results").resolve().as_uri().encode() in logged
