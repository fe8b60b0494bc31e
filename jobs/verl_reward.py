"""The reward verl calls for each rollout of an rl node run by verl (jobs/verl_trainer.py:
reward.custom_reward_function). verl loads this file by path on its reward workers and calls
`compute_score` with the decoded completion; the rule's name travels in each prompt's
`extra_info`, so one file serves every rule of jobs/rl_config.py REWARDS."""

from __future__ import annotations

from typing import Any

from jobs.rl_config import REWARDS


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **_: Any,
) -> float:
    """The reward of one completion (verl's custom reward signature)."""
    name = (extra_info or {}).get("reward")
    if name not in REWARDS:
        raise ValueError(f"extra_info.reward={name!r} is not a rule of jobs/rl_config.py")
    return float(REWARDS[str(name)](solution_str))
