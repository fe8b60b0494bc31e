"""Where judge prompts get answered: models served by vLLM on Ray (`vote` nodes of the graph
runner, like any engine node), an OpenAI-compatible HTTP endpoint, or phrase tables in the
driver. Each puts every valid answer in the judge cache as soon as its batch returns; an
answer with no parsable vote is not cached (the row is marked failed and asked again on
the next run).
"""

from __future__ import annotations

import dataclasses
import io
from collections import defaultdict

import pyarrow as pa

from jobs.judges.lexicon import LEXICON
from jobs.judges.llm import valid
from jobs.rows import Request
from orchestrator import models
from orchestrator.budget import max_model_len
from orchestrator.chat import ChatRenderer
from orchestrator.config.groups import SamplingConfig
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext
from orchestrator.graph.node import GenerateWork, Node
from orchestrator.ids import request_seed, stable_hash
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.endpoint import run_on_endpoint
from orchestrator.judges.spec import JudgeReport, JudgeSpec
from orchestrator.progress import Progress
from orchestrator.scheduler import Failure


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


def vote_work(
    spec: JudgeSpec,
    prompts: dict[str, str],
    cache: JudgeCache,
    report: JudgeReport,
    renderer: ChatRenderer,
) -> GenerateWork:
    """An engine judge's batch (key -> judge prompt): each prompt cut to fit the judge
    model's context window and sampled `votes` times. Its answers go to the cache as the
    batch returns, those with a parsable vote only (the others are asked again next run)."""
    root = judge_root(spec)
    budget = max_model_len(root) - spec.cfg.max_tokens
    requests = []
    for key, prompt in prompts.items():
        text, ids, clipped = fit(renderer, prompt, budget)
        report.clipped += clipped
        requests.append(Request(key, text, ids, key, request_seed(spec.cfg.seed, key)))
    report.calls += len(requests)

    def collect(table: pa.Table) -> None:
        answers: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for key, idx, text in zip(
            table["prompt_id"].to_pylist(),
            table["sample_idx"].to_pylist(),
            table["completion"].to_pylist(),
            strict=True,
        ):
            answers[key].append((idx, text))
        ordered = {key: [t for _, t in sorted(votes)] for key, votes in answers.items()}
        cache.add({k: a for k, a in ordered.items() if valid(spec.judge, a)})

    labels = {"sweep": root.sweep.name, "model": root.model.name}
    return GenerateWork(requests, dataclasses.asdict(root.sampling), labels, collect=collect)


def judge_renderer(spec: JudgeSpec) -> tuple[RootConfig, str, ChatRenderer]:
    """An engine judge's serving config, weights path and chat renderer."""
    root = judge_root(spec)
    path = models.prepare_model(root.model)
    return root, path, ChatRenderer(root.model, path)


def ask_engines(
    ctx: RunContext,
    specs: list[JudgeSpec],
    pending: dict[str, dict[str, str]],
    cache: JudgeCache,
    report: JudgeReport,
) -> None:
    """Every engine judge's pending prompts as `vote` nodes of a shard's size, run by the
    graph runner like any engine node (judging that is not of a sweep's shard files: the
    judge's evaluation on labelled items)."""
    from orchestrator.graph.runner import GraphRunner  # the runner imports the studies

    nodes = []
    for spec in specs:
        prompts = list(pending.get(spec.name, {}).items())
        if not prompts:
            continue
        root, path, renderer = judge_renderer(spec)
        size = ctx.root.shard_size
        for start in range(0, len(prompts), size):
            batch = dict(prompts[start : start + size])

            def build(
                artifacts: object,
                batch: dict[str, str] = batch,
                spec: JudgeSpec = spec,
                renderer: ChatRenderer = renderer,
            ) -> GenerateWork:
                return vote_work(spec, batch, cache, report, renderer)

            node_id = f"vote-{spec.name}-{stable_hash(sorted(batch), 12)}"
            nodes.append(
                Node(
                    "vote",
                    "judge",
                    node_id,
                    (),
                    ctx.cells[0],
                    build,
                    (root, path),
                    done=lambda: False,
                )
            )
    if nodes:
        report.failures += GraphRunner(ctx, nodes).run().failures


def run_on_lexicon(spec: JudgeSpec, prompts: dict[str, str], cache: JudgeCache) -> int:
    """Answer with the judge's phrase tables (jobs/judges/lexicon.py), in this process: one
    deterministic answer per vote, through the same parser and cache as a model's."""
    answers = {key: [LEXICON[spec.name](p)] * spec.cfg.votes for key, p in prompts.items()}
    cache.add({key: votes for key, votes in answers.items() if valid(spec.judge, votes)})
    return len(prompts)


def answer_prompts(
    ctx: RunContext,
    specs: list[JudgeSpec],
    pending: dict[str, dict[str, str]],
    cache: JudgeCache,
    report: JudgeReport,
    quiet: bool = False,
) -> None:
    """Ask each judge the prompts the cache lacks; `quiet`: no progress line (judging that
    goes along with generation, under generation's own line)."""
    root = ctx.root
    ask_engines(ctx, [s for s in specs if s.cfg.backend == "engine"], pending, cache, report)
    for spec in specs:
        if spec.cfg.backend == "lexicon" and pending.get(spec.name):
            report.calls += run_on_lexicon(spec, pending[spec.name], cache)
        if spec.cfg.backend == "openai" and spec.name in report.given_up:
            message = "not sent: the endpoint failed too many prompts in a row earlier"
            failed = [
                Failure(k, f"judge:{spec.name}", 0, message) for k in pending.get(spec.name, {})
            ]
            report.failures += failed
        elif spec.cfg.backend == "openai" and pending.get(spec.name):
            prompts = pending[spec.name]
            name = f"{root.sweep.name} judge {spec.name}"
            progress = (
                Progress(name, len(prompts), len(prompts), stream=io.StringIO())
                if quiet
                else Progress(name, len(prompts), len(prompts))
            )
            try:
                before = report.in_a_row.get(spec.name, 0)
                asked = run_on_endpoint(spec, prompts, cache, progress, before)
            finally:
                progress.close()
            report.calls += asked.calls
            report.failures += asked.failures
            report.in_a_row[spec.name] = asked.in_a_row
            if asked.gave_up:
                report.given_up.add(spec.name)
            report.spent[spec.name] = (spec.cfg.price_input, spec.cfg.price_output, asked.tokens)
