"""What scores an RL job's rollouts (jobs/rl.py): a rule of jobs/rl_config.py, a reward
model (jobs/reward_model.py) or one of the study's judges (jobs/judge_reward.py), behind one
signature, and the dataset columns they read beside each prompt."""

from __future__ import annotations

import json
from collections.abc import Callable

from jobs.judge_reward import JudgeReward, JudgeRewardSpec
from jobs.reward_model import RewardModel
from jobs.rl_config import PROMPT_REWARDS, REWARDS

# completions, their prompts' turns (JSON), their requests, whether each ended -> rewards
Scorer = Callable[[list[str], list[str], list[str], list[bool]], list[float]]


def scorer(
    reward: str, reward_model: str | None, judge: JudgeRewardSpec | None, device: str
) -> Scorer:
    """A rule (a name in REWARDS), "model" (reward_model scores) or "judge" (judge grades)."""
    if reward == "judge":
        assert judge, "reward=judge needs a judge"
        return JudgeReward(judge)
    if reward == "model":
        assert reward_model, "reward=model needs a reward_model"
        model = RewardModel(reward_model, device)
        return lambda completions, turns, *_: model([json.loads(t) for t in turns], completions)
    if reward in PROMPT_REWARDS:
        reads = PROMPT_REWARDS[reward]
        return lambda completions, turns, *_: [
            reads(text, turn) for text, turn in zip(completions, turns, strict=True)
        ]
    rule = REWARDS[reward]
    return lambda completions, *_: [rule(text) for text in completions]


def reward_columns(
    prompts: list[str], turns: list[str], requests: list[str]
) -> dict[str, list[str]]:
    """Each prompt's chat turns (JSON; a reward model reads them) and request (a judge reads
    it); without them, the rendered prompt stands in for both."""
    return {
        "turns": list(turns) or [json.dumps([{"role": "user", "content": p}]) for p in prompts],
        "request": list(requests) or list(prompts),
    }
