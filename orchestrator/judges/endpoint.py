"""Judge prompts answered by an OpenAI-compatible endpoint, on the same layer as a hosted
model under test (jobs/engines/openai_chat.py): the same client (retries that honour
Retry-After), the same limits (`judges.<name>.concurrency`, `requests_per_minute`) and the
same cost accounting (`price_input`, `price_output`). The judge cache is its response cache:
every valid answer is kept there, keyed by judge identity and prompt.

Votes are samples of one request, each with its own seed (the judge's seed plus the vote's
index: not every server supports `n`). A dead endpoint stops the stage after DEAD_AFTER
failed prompts in a row instead of waiting out every queued prompt.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Future, as_completed

from jobs.engines.base import EngineSettings, HostedSettings
from jobs.engines.openai_chat import OpenAIChatEngine
from jobs.judges.llm import valid
from jobs.rows import Completion, Request
from orchestrator.cost import Tokens
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.spec import JudgeSpec, endpoint
from orchestrator.progress import Progress
from orchestrator.scheduler import Failure

# Endpoint answers written to the cache per part file.
CACHE_BATCH = 32


@dataclasses.dataclass
class EndpointReport:
    calls: int = 0
    failures: list[Failure] = dataclasses.field(default_factory=list)
    tokens: Tokens = dataclasses.field(default_factory=Tokens)
    gave_up: bool = False  # the endpoint failed dead_after prompts in a row
    in_a_row: int = 0  # failed prompts in a row at the end (the next call goes on from it)


def dead_after(spec: JudgeSpec) -> int:
    """Consecutive failed prompts after which the endpoint counts as dead."""
    return 2 * spec.cfg.concurrency


def judge_engine(spec: JudgeSpec) -> OpenAIChatEngine:
    base, _ = endpoint(spec)  # the key is read by the engine, from the variable it names
    hosted = HostedSettings(
        base_url=base,
        api_key_env=spec.cfg.api_key_env,
        concurrency=spec.cfg.concurrency,
        requests_per_minute=spec.cfg.requests_per_minute,
        max_retries=spec.cfg.retries,
        timeout_s=spec.cfg.timeout_s,
    )
    return OpenAIChatEngine(EngineSettings(spec.cfg.model, "api", "api", 0, hosted=hosted))


def run_on_endpoint(
    spec: JudgeSpec,
    prompts: dict[str, str],
    cache: JudgeCache,
    progress: Progress,
    in_a_row: int = 0,
) -> EndpointReport:
    """Ask the endpoint these prompts; `in_a_row`: failed prompts in a row before them (the
    calls of one run are batches of what was written meanwhile, and an endpoint that is
    down must be given up after dead_after failures, however they were batched)."""
    engine = judge_engine(spec)
    sampling = {
        "temperature": spec.cfg.temperature,
        "top_p": 1.0,
        "max_tokens": spec.cfg.max_tokens,
        "n": spec.cfg.votes,
        "stop": [],
    }
    report = EndpointReport(calls=len(prompts))
    futures: dict[Future[list[Completion]], str] = {}
    for key, prompt in prompts.items():
        turns = [{"role": "user", "content": prompt}]
        request = Request(key, prompt, [], "", spec.cfg.seed, messages=turns)
        futures[engine.submit([request], sampling)] = key
    answered: dict[str, list[str]] = {}
    try:
        for future in as_completed(futures):
            key = futures[future]
            if future.cancelled():
                continue
            try:
                answers = _answers(spec, future.result(), report.tokens)
                answered[key] = answers
                in_a_row = 0
            except Exception as e:  # one failed prompt must not lose the others' answers
                in_a_row += 1
                report.failures.append(
                    Failure(key, f"judge:{spec.name}", 1, f"{type(e).__name__}: {e}"[:300])
                )
                if in_a_row >= dead_after(spec):
                    engine.close()  # drops every call not yet sent
                    _give_up(futures, spec, report)
                    report.gave_up = True
            progress.update(rows=1)
            if len(answered) >= CACHE_BATCH:
                cache.add(answered)
                answered = {}
    except (KeyboardInterrupt, OSError):
        # Ctrl-C, SIGTERM, or a disk that cannot take the answers: queued prompts are
        # dropped and open requests abandoned, instead of waiting out (and paying for)
        # every one; answers so far are kept below.
        engine.close()
        engine.client.close()
        raise
    finally:
        cache.add(answered)
        engine.close()
    report.in_a_row = in_a_row
    return report


def _answers(spec: JudgeSpec, completions: list[Completion], tokens: Tokens) -> list[str]:
    for c in completions:
        tokens.prompt += c.prompt_tokens
        tokens.generated += c.completion_tokens
    answers = [c.text for c in sorted(completions, key=lambda c: c.sample_idx)]
    if not valid(spec.judge, answers):
        raise ValueError(f"no parsable vote in {len(answers)} answers: {answers[0][:80]!r}")
    return answers


def _give_up(
    futures: dict[Future[list[Completion]], str], spec: JudgeSpec, report: EndpointReport
) -> None:
    """Cancel every prompt not yet sent; each is a recorded failure."""
    for future, key in futures.items():
        # cancel() is True for a future cancelled before too: record each failure once.
        if not future.cancelled() and future.cancel():
            # A bare future (not an executor's) tells as_completed only through this call.
            future.set_running_or_notify_cancel()
            message = f"not sent: the endpoint failed {dead_after(spec)} prompts in a row"
            report.failures.append(Failure(key, f"judge:{spec.name}", 0, message))
