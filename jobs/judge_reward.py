"""A judge as an RL job's reward (reward=judge): one of the study's LLM judges
(jobs/judges/llm.py) grades each rollout as it grades evaluation rows: the same template,
the same parse of the reply, the same vote parser. Its backend is an OpenAI-compatible
endpoint (`openai`: e.g. `vllm serve` of the judge model beside the cluster) or its phrase
tables (`lexicon`: CPU, no model).

The reward is the judge's vote averaged over its votes: the compliance judge's score
(StrongREJECT-style, in [0, 1]), a criteria judge's yes. A rollout the judge does not grade
earns 0 and is counted (`ungraded`): one whose reply the judge skips (the compliance judge
never scores a reply cut at max_tokens), or whose answers hold no parsable vote.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from jobs.judges.lexicon import LEXICON
from jobs.judges.llm import JUDGES
from jobs.judges.parse import parse

# The vote each judge's reward is read from; a criteria judge votes "yes".
REWARD_VOTE = {"compliance": "score"}
HTTP_WORKERS = 8  # concurrent requests to the endpoint, as the judge stage


@dataclass(frozen=True)
class JudgeRewardSpec:
    """One configured judge, resolved by the driver (orchestrator/graph/work.py)."""

    name: str  # a judge of jobs/judges/llm.py JUDGES
    template: str  # its template's text
    backend: str  # openai | lexicon
    model: str = ""
    base_url: str = ""  # openai: the endpoint (its key travels as a secret, by env name)
    api_key_env: str = "OPENAI_API_KEY"
    votes: int = 1
    temperature: float = 0.0
    max_tokens: int = 64
    seed: int = 0
    timeout_s: float = 60.0
    retries: int = 3


class JudgeReward:
    """completions, their turns, requests, whether each ended -> rewards (0 for an ungraded
    rollout): the RL job's scorer signature (jobs/rl.py)."""

    def __init__(self, spec: JudgeRewardSpec) -> None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self.spec, self.judge = spec, JUDGES[spec.name]
        env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
        self.template = env.from_string(spec.template)
        self.key = REWARD_VOTE.get(spec.name, "yes")
        self.graded = self.ungraded = 0
        self.client: Any = None
        if spec.backend == "openai":
            from openai import OpenAI

            key = os.environ.get(spec.api_key_env, "not-needed")  # set from the job's secrets
            self.client = OpenAI(
                base_url=spec.base_url,
                api_key=key,
                max_retries=spec.retries,
                timeout=spec.timeout_s,
            )

    def prompt(self, request: str, completion: str, ended: bool) -> str | None:
        """The judge's prompt for one rollout, or None when the judge does not grade it."""
        variables = self.judge.variables(request, parse(completion, "stop" if ended else "length"))
        return None if variables is None else self.template.render(**variables)

    def answers(self, prompt: str) -> list[str]:
        spec = self.spec
        if spec.backend == "lexicon":
            return [LEXICON[spec.name](prompt)] * spec.votes
        replies = [
            self.client.chat.completions.create(
                model=spec.model,
                messages=[{"role": "user", "content": prompt}],
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                seed=spec.seed + vote,
            )
            for vote in range(spec.votes)
        ]
        return [r.choices[0].message.content or "" for r in replies]

    def score(self, prompt: str | None) -> float | None:
        if prompt is None:
            return None
        votes = [v for v in map(self.judge.vote, self.answers(prompt)) if v is not None]
        return sum(v[self.key] for v in votes) / len(votes) if votes else None

    def __call__(
        self, completions: list[str], turns: list[str], requests: list[str], ended: list[bool]
    ) -> list[float]:
        prompts = [
            self.prompt(r, c, e) for r, c, e in zip(requests, completions, ended, strict=True)
        ]
        with ThreadPoolExecutor(HTTP_WORKERS) as pool:
            scores = list(pool.map(self.score, prompts))
        self.ungraded += sum(s is None for s in scores)
        self.graded += sum(s is not None for s in scores)
        return [0.0 if s is None else s for s in scores]
