"""Where judge prompts get answered: models served by vLLM on Ray, or an OpenAI-compatible
HTTP endpoint. Both put every valid answer in the judge cache as soon as its batch returns;
an answer with no parsable vote is not cached (the row is marked failed and asked again on
the next run). Both show a progress line with an ETA, like generation.
"""

from __future__ import annotations

import dataclasses
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from jobs.judges.lexicon import LEXICON
from jobs.judges.llm import valid
from jobs.rows import Request, ShardTask
from orchestrator import models
from orchestrator.budget import max_model_len
from orchestrator.chat import ChatRenderer
from orchestrator.config.groups import SamplingConfig
from orchestrator.config.schema import RootConfig
from orchestrator.events import EventLog
from orchestrator.ids import request_seed
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.endpoint import run_on_endpoint
from orchestrator.judges.spec import JudgeReport, JudgeSpec
from orchestrator.pools import pool_key
from orchestrator.progress import Progress
from orchestrator.scheduler import BatchJob, Failure, Scheduler

if TYPE_CHECKING:
    from orchestrator.session import Session


@dataclass
class BackendReport:
    calls: int = 0  # judge prompts sent to a model this run
    clipped: int = 0  # prompts shortened to fit the judge model's context window
    failures: list[Failure] = dataclasses.field(default_factory=list)


def judge_root(spec: JudgeSpec) -> RootConfig:
    """The judge model's config with the judge's sampling: votes are samples of one request."""
    assert spec.root is not None
    sampling = SamplingConfig(
        temperature=spec.cfg.temperature,
        top_p=1.0,
        max_tokens=spec.cfg.max_tokens,
        n=spec.cfg.votes,
    )
    return dataclasses.replace(spec.root, sampling=sampling)


def engine_pools(specs: list[JudgeSpec], device: str) -> set[str]:
    """The pool keys of the engine judges: the generation pools the judge stage reuses."""
    return {
        pool_key(judge_root(s), device, models.prepare_model(s.root.model))
        for s in specs
        if s.cfg.backend == "engine" and s.root is not None
    }


def fit(renderer: ChatRenderer, prompt: str, budget: int) -> tuple[str, list[int], bool]:
    """Render a judge prompt, cutting the middle of it (the judged text) until it fits."""
    text, ids = renderer.render([{"role": "user", "content": prompt}])
    clipped = False
    while len(ids) > budget and len(prompt) > 200:
        keep = int(len(prompt) * budget / len(ids) * 0.9)
        head, tail = prompt[: keep // 2], prompt[len(prompt) - (keep - keep // 2) :]
        prompt = f"{head}\n[... cut to fit the judge's context ...]\n{tail}"
        text, ids = renderer.render([{"role": "user", "content": prompt}])
        clipped = True
    return text, ids, clipped


def run_on_engines(
    session: Session,
    specs: list[JudgeSpec],
    pending: dict[str, dict[str, str]],
    cache: JudgeCache,
    batch: int,
    max_retries: int,
    more: bool = False,
) -> BackendReport:
    """Serve every engine judge's pending prompts through Ray, one pool per judge model
    (kept loaded for the next batch when `more` follow)."""
    report = BackendReport()
    judges = {f"judge:{s.name}": s.judge for s in specs}
    total = sum(len(pending.get(s.name, {})) for s in specs)
    progress = Progress(
        f"{session.root.sweep.name} judge",
        -(-total // batch),
        total,
        log=lambda counts: session.tracker.log({f"judge/{k}": v for k, v in counts.items()}),
    )

    def on_result(job: BatchJob, table: pa.Table) -> None:
        answers: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for key, idx, text in zip(
            table["prompt_id"].to_pylist(),
            table["sample_idx"].to_pylist(),
            table["completion"].to_pylist(),
            strict=True,
        ):
            answers[key].append((idx, text))
        ordered = {key: [t for _, t in sorted(votes)] for key, votes in answers.items()}
        cache.add({k: a for k, a in ordered.items() if valid(judges[job.cell_id], a)})
        progress.update(
            rows=len(job.task.requests), tokens=sum(table["completion_tokens"].to_pylist())
        )

    events = EventLog(session.sweep_dir / "events.jsonl")
    scheduler: Scheduler[BatchJob] = Scheduler(
        session.device(),
        str(models.cache_dir()),
        on_result,
        max_retries,
        events,
        needed=lambda key: more,
        shared=session.pools,  # a judge that is the model under test: its loaded engine
    )
    try:
        for spec in specs:
            if pending.get(spec.name):
                _add_jobs(scheduler, spec, pending[spec.name], batch, report)
        report.failures = scheduler.run()
    finally:
        progress.close()
        scheduler.shutdown()
        events.close()
    return report


def _add_jobs(
    scheduler: Scheduler[BatchJob],
    spec: JudgeSpec,
    prompts: dict[str, str],
    batch: int,
    report: BackendReport,
) -> None:
    root = judge_root(spec)
    path = models.prepare_model(root.model)
    renderer = ChatRenderer(root.model, path)
    budget = max_model_len(root) - spec.cfg.max_tokens
    requests = []
    for key, prompt in prompts.items():
        text, ids, clipped = fit(renderer, prompt, budget)
        report.clipped += clipped
        requests.append(Request(key, text, ids, key, request_seed(spec.cfg.seed, key)))
    sampling = dataclasses.asdict(root.sampling)
    labels = {"sweep": root.sweep.name, "stage": "judge", "model": root.model.name}
    for start in range(0, len(requests), batch):
        task = ShardTask(f"judge-{spec.name}-{start}", requests[start : start + batch], sampling)
        task.labels = labels
        scheduler.add(BatchJob(task.shard_id, f"judge:{spec.name}", root, task), path)
    report.calls += len(requests)


def run_on_lexicon(spec: JudgeSpec, prompts: dict[str, str], cache: JudgeCache) -> BackendReport:
    """Answer with the judge's phrase tables (jobs/judges/lexicon.py), in this process: one
    deterministic answer per vote, through the same parser and cache as a model's."""
    answers = {key: [LEXICON[spec.name](p)] * spec.cfg.votes for key, p in prompts.items()}
    cache.add({key: votes for key, votes in answers.items() if valid(spec.judge, votes)})
    return BackendReport(calls=len(prompts))


def answer_prompts(
    root: RootConfig,
    specs: list[JudgeSpec],
    pending: dict[str, dict[str, str]],
    cache: JudgeCache,
    session: Session,
    report: JudgeReport,
    quiet: bool = False,
    more: bool = False,
) -> None:
    """Ask each judge the prompts the cache lacks; `quiet`: no progress line (judging that
    goes along with generation, in batches, under generation's own line); `more`: another
    batch follows, so engine judges stay loaded."""
    engine = [s for s in specs if s.cfg.backend == "engine" and pending.get(s.name)]
    if engine:
        done = run_on_engines(
            session, engine, pending, cache, root.shard_size, root.max_retries, more
        )
        report.calls += done.calls
        report.clipped += done.clipped
        report.failures += done.failures
    for spec in specs:
        if spec.cfg.backend == "lexicon" and pending.get(spec.name):
            report.calls += run_on_lexicon(spec, pending[spec.name], cache).calls
        if spec.cfg.backend == "openai" and pending.get(spec.name):
            prompts = pending[spec.name]
            name = f"{root.sweep.name} judge {spec.name}"
            progress = (
                Progress(name, len(prompts), len(prompts), stream=io.StringIO())
                if quiet
                else Progress(name, len(prompts), len(prompts))
            )
            try:
                asked = run_on_endpoint(spec, prompts, cache, progress)
            finally:
                progress.close()
            report.calls += asked.calls
            report.failures += asked.failures
            report.spent[spec.name] = (spec.cfg.price_input, spec.cfg.price_output, asked.tokens)
