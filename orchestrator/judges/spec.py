"""Judges as configured: each `judges.<name>` entry resolved to its registry entry, template
text, serving config (engine backend) or endpoint, and an identity that names its answers in
the judge cache. Any study with a judge stage uses these; the scoring is the study's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from jobs.judge_reward import JudgeRewardSpec
from jobs.judges import lexicon
from jobs.judges.llm import JUDGES, LLMJudge
from orchestrator import models
from orchestrator.config.compose import Composer, to_root
from orchestrator.config.schema import JudgeConfig, RlConfig, RootConfig
from orchestrator.cost import used
from orchestrator.errors import UserError, did_you_mean
from orchestrator.ids import stable_hash
from orchestrator.progress import clock
from orchestrator.scheduler import Failure
from orchestrator.templates import read_template


@dataclass(frozen=True)
class JudgeSpec:
    """One configured LLM judge, resolved: its template text and what identifies its answers."""

    name: str
    cfg: JudgeConfig
    judge: LLMJudge
    template: str
    identity: str
    root: RootConfig | None  # engine backend: the config that serves the judge model


def judge_specs(root: RootConfig, overrides: list[str]) -> list[JudgeSpec]:
    """Resolve `judges`: registry names, template files, judge models and endpoints, before
    any job starts."""
    specs = []
    for name, cfg in root.judges.items():
        if name not in JUDGES:
            raise UserError(f"judges.{name} is not a known judge{did_you_mean(name, JUDGES)}")
        template = read_template(cfg.template, f"judges.{name}.template")
        serving = None
        if cfg.backend == "engine":
            serving = _model_root(overrides, cfg.model, name)
            model: object = models.identity(serving.model)
        elif cfg.backend == "lexicon":
            if name not in lexicon.LEXICON:
                raise UserError(
                    f"judges.{name}.backend=lexicon: there are phrase tables for "
                    f"{', '.join(lexicon.LEXICON)} only; use backend=engine or openai"
                )
            model = ["lexicon", lexicon.VERSION]
        else:
            endpoint_url, _ = endpoint_spec(name, cfg)
            model = [endpoint_url, cfg.model]
        identity = judge_identity(name, cfg, model, template)
        specs.append(JudgeSpec(name, cfg, JUDGES[name], template, identity, serving))
    return specs


def judge_identity(name: str, cfg: JudgeConfig, model: object, template: str) -> str:
    """What names a judge's answers: its backend, model, template and sampling."""
    fields = [cfg.backend, model, template, cfg.votes, cfg.temperature, cfg.max_tokens]
    return stable_hash([name, *fields, cfg.seed], 16)


def reward_judge(
    root: RootConfig, settings: RlConfig, key: str
) -> tuple[JudgeRewardSpec | None, str | None]:
    """reward=judge: the sweep's judge named by the RL settings at `key`, as the RL job's
    reward (jobs/judge_reward.py), and its identity (part of the rl node's id); (None, None)
    for any other reward."""
    if settings.reward != "judge":
        return None, None
    judge = settings.reward_judge
    if judge not in root.judges:
        known = ", ".join(root.judges) or "none"
        raise UserError(
            f"{key}.reward_judge={judge!r} is not one of this sweep's judges ({known}): "
            "add it under judges (e.g. judges=af) or name another"
        )
    cfg = root.judges[judge]
    if cfg.backend not in ("openai", "lexicon"):
        raise UserError(
            f"{key}.reward=judge grades rollouts on the training worker: set "
            f"judges.{judge}.backend=openai (an endpoint, e.g. vllm serve of the judge model) "
            "or lexicon (phrase tables)"
        )
    template = read_template(cfg.template, f"judges.{judge}.template")
    base, model = "", cfg.model
    if cfg.backend == "openai":
        base, _ = endpoint_spec(judge, cfg)  # the key stays in the driver's environment
    spec = JudgeRewardSpec(
        name=judge,
        template=template,
        backend=cfg.backend,
        model=model,
        base_url=base,
        api_key_env=cfg.api_key_env,
        votes=cfg.votes,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        seed=cfg.seed,
        timeout_s=cfg.timeout_s,
        retries=cfg.retries,
    )
    served = [base, model] if cfg.backend == "openai" else ["lexicon", lexicon.VERSION]
    return spec, judge_identity(judge, cfg, served, template)


def endpoint_spec(name: str, cfg: JudgeConfig) -> tuple[str, str]:
    return endpoint(JudgeSpec(name, cfg, JUDGES[name], "", "", None))


def _model_root(overrides: list[str], model: str, judge: str) -> RootConfig:
    composer = Composer()
    try:
        return to_root(composer.compose([*overrides, f"model={model}"]))
    except UserError as e:
        raise UserError(f"judges.{judge}.model={model!r}: {e}") from None
    finally:
        composer.close()


def judges_id(specs: list[JudgeSpec]) -> str:
    """Changes whenever re-scoring could change a label: judge answers or thresholds."""
    return stable_hash([[s.identity, s.cfg.threshold, s.cfg.possible] for s in specs], 12)


@dataclass
class JudgeReport:
    files: int = 0
    rows: int = 0
    prompts: int = 0  # judge prompts this stage needed
    cached: int = 0  # of which answered from the cache
    calls: int = 0  # of which sent to a model now
    clipped: int = 0
    failed_rows: int = 0  # rows with a judge call that failed (marked, retried next run)
    failures: list[Failure] = field(default_factory=list)
    # endpoint judges: name -> (price_input, price_output, Tokens spent this run)
    spent: dict[str, Any] = field(default_factory=dict)
    # endpoint judges given up for this invocation (it failed dead_after prompts in a row):
    # later shard files' prompts for them are not sent, the next run asks again
    given_up: set[str] = field(default_factory=set)
    in_a_row: dict[str, int] = field(default_factory=dict)  # endpoint judge -> failed in a row


def describe(specs: list[JudgeSpec]) -> dict[str, dict[str, Any]]:
    """What produced the scores, without secrets (endpoint keys are never read into it)."""
    return {
        s.name: {
            "backend": s.cfg.backend,
            "model": s.cfg.model,
            "votes": s.cfg.votes,
            "temperature": s.cfg.temperature,
            "threshold": s.cfg.threshold,
            "possible": s.cfg.possible,
            "identity": s.identity,
        }
        for s in specs
    }


def endpoint(spec: JudgeSpec) -> tuple[str, str]:
    """Base URL and key of an OpenAI-compatible judge, from the environment only."""
    base = os.environ.get(spec.cfg.base_url_env, "")
    if not base:
        raise UserError(
            f"judges.{spec.name}.backend=openai needs the endpoint's base URL in "
            f"${spec.cfg.base_url_env}: export it, or set judges.{spec.name}.base_url_env"
        )
    return base, os.environ.get(spec.cfg.api_key_env, "not-needed")


def summary(report: JudgeReport, seconds: float) -> str:
    """Judging's line: what was scored, cached, sent and failed."""
    if not report.files:
        return "judging: every shard is already scored with these judges"
    line = (
        f"judging in {clock(seconds)}: {report.rows} rows of {report.files} shards scored; "
        f"{report.prompts} judge prompts, {report.cached} from the cache, {report.calls} sent "
        f"to a model ({report.clipped} clipped to fit), {len(report.failures)} failed; "
        f"{report.failed_rows} rows without a valid judgement (asked again next run)"
    )
    for name, (price_in, price_out, tokens) in report.spent.items():
        line += f"\njudge {name} spent: {used(tokens, tokens.priced(price_in, price_out))}"
    return line
