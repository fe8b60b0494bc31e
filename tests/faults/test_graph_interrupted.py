"""SIGTERM while a stage graph trains: the training node is recorded as interrupted (in
failed_shards.json and the event log, beside any generation in flight), nothing downstream
of it ran, and the same command resumes the graph from there to the end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.events import read_events
from tests.conftest import REPO
from tests.studies.tutor import CONF


def command(output_root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        f"hydra.searchpath=[file://{CONF}]",
        "+sweep=tutor",
        f"output_root={output_root}",
        *extra,
    ]


def test_sigterm_during_training_is_recorded_and_the_graph_resumes(tmp_path: Path) -> None:
    slow = ["study.vars.train.steps=400", "study.vars.train.checkpoint_every=50"]
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(
        command(tmp_path, *slow), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
    )
    sweep = tmp_path / "tutor"
    deadline = time.monotonic() + 300
    while not list(sweep.glob("artifacts/work/*/checkpoint/state.pt")):
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "no training checkpoint in 300 s"
        time.sleep(0.05)
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=120) == 143
    failed = {f["shard_id"] for f in json.loads((sweep / "failed_shards.json").read_text())}
    events = read_events(sweep / "events.jsonl")
    interrupted = {e["job"] for e in events if e["event"] == "interrupted"}
    training = {e["job"] for e in events if e["event"] == "task_start"}
    assert training and training <= interrupted
    assert {f"finetune-{node}" for node in training} <= failed
    assert not any(e.get("stage") == "answer_tuned" for e in events if e["event"] == "node_done")
    rerun = subprocess.run(
        command(tmp_path, *slow), cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "answer_tuned: 2" in rerun.stdout
    assert json.loads((sweep / "failed_shards.json").read_text()) == []
