"""An RL job's curves say whether RL could move the policy: beside the mean reward, its
spread and the share of prompt groups with zero advantage, per step (and the KL when a
penalty is set), in metrics/training_curves.parquet and W&B alike."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from jobs.rl_config import CURVES
from orchestrator.graph.curves import SCHEMA, curve_rows


def test_rl_curves_carry_the_reward_spread_and_the_zero_advantage_share() -> None:
    node: Any = SimpleNamespace(id="n1", kind="rl", stage="safety_rl")
    training = {
        "label": "rl",
        "loss": [0.0, 0.1],
        "reward": [1.0, 0.5],
        "reward_std": [0.0, 0.5],
        # step 1: every group's rollouts scored alike, so GRPO had nothing to learn
        "zero_std_groups": [1.0, 0.5],
        "kept_steps": [2],
    }
    rows = curve_rows(node, training)
    assert [(r["reward_std"], r["zero_std_groups"], r["kl"]) for r in rows] == [
        (0.0, 1.0, None),
        (0.5, 0.5, None),
    ]
    assert set(CURVES) - {"loss"} <= set(SCHEMA.names)
