"""Plan the work: cells -> pending shards -> rendered shard tasks, checked against budgets.

A cell's prompts are cut at fixed boundaries (multiples of shard_size) and what is already
on disk is subtracted, so a re-run plans only missing prompts, and a changed shard_size
never re-generates finished ones (new shards only fill the gaps).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from jobs.rows import Request, ShardTask
from orchestrator import models
from orchestrator.budget import check_cell, too_long, window
from orchestrator.chat import Renderer, renderer_for
from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.grid import Cell
from orchestrator.ids import request_seed, text_hash
from orchestrator.models.adapters import adapter_folder
from orchestrator.pools import pool_key
from orchestrator.studies import get_study, row_schema


@dataclass(frozen=True)
class Shard:
    cell: Cell
    start: int
    end: int

    @property
    def id(self) -> str:
        return f"{self.cell.id}_{self.start:06d}-{self.end:06d}"

    @property
    def size(self) -> int:
        return self.end - self.start


def done_indices(ranges: Iterable[tuple[int, int]]) -> set[int]:
    return {i for start, end in ranges for i in range(start, end)}


def pending_shards(
    cells: list[Cell], done: dict[str, list[tuple[int, int]]], shard_size: int
) -> list[Shard]:
    """Shards covering every prompt of every cell that has no row on disk yet."""
    shards = []
    for cell in cells:
        finished = done_indices(done.get(cell.id, []))
        total = len(cell.dataset.prompts)
        for chunk in range(0, total, shard_size):
            run_start = None
            for i in range(chunk, min(chunk + shard_size, total) + 1):
                missing = i < min(chunk + shard_size, total) and i not in finished
                if missing and run_start is None:
                    run_start = i
                elif not missing and run_start is not None:
                    shards.append(Shard(cell, run_start, i))
                    run_start = None
    return shards


def served_adapter(cell: Cell, trained: str | None = None) -> str | None:
    """The adapter a cell's rows are generated with: one its study trained for it (a
    folder that may not exist yet at plan time), or the configured `model.adapter`."""
    if trained:
        return trained
    adapter = cell.config.model.adapter
    return str(adapter_folder(adapter)) if adapter else None


def labels(
    cell: Cell, sweep: str, model_path: str, trained: str | None = None
) -> dict[str, object]:
    """The columns every row of this cell shares."""
    cfg = cell.config
    return {
        "sweep": sweep,
        "study": cfg.study.name,
        "stage": "generate",
        "cell_id": cell.id,
        "node": cell.id,
        "model": cfg.model.name,
        "model_path": model_path,
        "adapter": served_adapter(cell, trained),
        **get_study(cfg.study.name).labels(cfg),
        "axes": json.dumps(cell.axes, sort_keys=True, default=str),
        "dataset": cell.dataset.name,
        "dataset_hash": cell.dataset.hash,
        "seed": cfg.seed,
    }


def build_task(
    shard: Shard,
    sweep: str,
    renderer: Renderer,
    model_path: str,
    trained: str | None = None,
) -> ShardTask:
    """Render and tokenize a shard's prompts; refuse any that cannot fit the context window.
    `trained`: the adapter the study trained for this cell. A hosted model's requests carry
    their messages, and their tokens are estimated from characters."""
    cell = shard.cell
    cfg = cell.config
    adapter = served_adapter(cell, trained)
    study = get_study(cfg.study.name)
    budget = window(cell) - cfg.sampling.max_tokens
    requests = []
    for prompt in cell.dataset.prompts[shard.start : shard.end]:
        messages = study.messages(cfg, prompt)
        text, ids = renderer.render(messages)
        tokens = renderer.count(messages, ids)
        if tokens > budget:  # budget.check_cell refused it before any job started
            raise too_long(cell, prompt.id, tokens, renderer)
        requests.append(
            Request(
                prompt_id=prompt.id,
                text=text,
                token_ids=ids,
                prompt_hash=text_hash(text),
                seed=request_seed(cfg.seed, prompt.id),
                adapter=adapter,
                messages=list(messages) if renderer.estimated else [],
                prompt_tokens=tokens,
            )
        )
    sampling = {
        "temperature": cfg.sampling.temperature,
        "top_p": cfg.sampling.top_p,
        "max_tokens": cfg.sampling.max_tokens,
        "n": cfg.sampling.n,
        "stop": list(cfg.sampling.stop),
    }
    return ShardTask(
        shard_id=shard.id,
        requests=requests,
        sampling=sampling,
        labels=labels(cell, sweep, model_path, trained),
        schema=row_schema(study),
    )


@dataclass
class Job:
    """A shard with its rendered task, as the scheduler runs (and retries) it."""

    shard: Shard
    task: ShardTask
    attempts: int = 0

    @property
    def id(self) -> str:
        return self.shard.id

    @property
    def cell_id(self) -> str:
        return self.shard.cell.id

    @property
    def config(self) -> RootConfig:
        return self.shard.cell.config


def count_shards(cells: list[Cell], shard_size: int) -> int:
    return sum(-(-len(c.dataset.prompts) // shard_size) for c in cells)


@dataclass
class Prepared:
    """Each model's weights and renderer, every request checked against its context window,
    and the shards in the order they run. A shard's job (its prompts rendered and tokenized)
    is built when asked, a few shards ahead of dispatch, so the driver's memory does not
    grow with the grid."""

    sweep: str
    shards: list[Shard]  # in prefix order
    paths: dict[str, str]  # models.weights_key -> local weights folder
    chat: dict[str, dict[str, str]]  # model name -> how its prompts were rendered
    renderers: dict[str, Renderer]  # models.weights_key -> its renderer
    trained: dict[str, str]  # cell id -> the adapter its study trains before generation
    counted: int = 0  # requests the context-window check rendered and tokenized

    def path(self, shard: Shard) -> str:
        return self.paths[models.weights_key(shard.cell.config.model)]

    def job(self, shard: Shard) -> Job:
        key = models.weights_key(shard.cell.config.model)
        adapter = self.trained.get(shard.cell.id)
        task = build_task(shard, self.sweep, self.renderers[key], self.paths[key], adapter)
        return Job(shard, task)

    def jobs(self) -> list[Job]:
        """Every shard's job at once (tests and benchmarks; a run builds them as it goes)."""
        return [self.job(shard) for shard in self.shards]

    def renderer(self, cell: Cell) -> Renderer:
        return self.renderers[models.weights_key(cell.config.model)]

    def pool_keys(self, device: str) -> dict[str, str]:
        """cell id -> the engine pool that serves its shards."""
        keys: dict[str, str] = {}
        for shard in self.shards:
            if shard.cell.id not in keys:
                keys[shard.cell.id] = pool_key(shard.cell.config, device, self.path(shard))
        return keys


def prepare_jobs(
    root: RootConfig, shards: list[Shard], trained: dict[str, str] | None = None
) -> Prepared:
    """Model paths and renderers (prepared once each), every pending request checked against
    its context window (orchestrator.budget), and the shards in prefix order.
    `trained`: cell id -> the adapter its study trains for it before generation."""
    prepared = Prepared(root.sweep.name, [], {}, {}, {}, trained or {})
    for shard in shards:
        model = shard.cell.config.model
        # By weights, not name: cells of one name may hold other weights (grid.model.path).
        key = models.weights_key(model)
        if key not in prepared.renderers:
            prepared.paths[key] = path = models.prepare_model(model)
            prepared.renderers[key] = renderer = renderer_for(model, path)
            prepared.chat[model.name] = {
                "path": path,
                # Templates without a system role get it folded into the first user turn.
                "system_prompt": "system role" if renderer.system_role else "folded into user",
            }
    for cell, prompts in pending_prompts(shards):
        prepared.counted += check_cell(cell, prompts, prepared.renderer(cell))
    prepared.shards = prefix_order(shards, prepared)
    return prepared


def pending_prompts(shards: list[Shard]) -> list[tuple[Cell, list[Prompt]]]:
    """Each cell with its prompts in these shards."""
    out: dict[str, tuple[Cell, list[Prompt]]] = {}
    for shard in shards:
        prompts = shard.cell.dataset.prompts[shard.start : shard.end]
        out.setdefault(shard.cell.id, (shard.cell, []))[1].extend(prompts)
    return list(out.values())


# Enough leading tokens to tell prompt variants apart; requests agreeing on all of them
# share a system prompt.
PREFIX_TOKENS = 1024


def prefix_order(shards: list[Shard], prepared: Prepared) -> list[Shard]:
    """Shards in an order that keeps prompts sharing a prefix (a cell's system prompt, the
    same variant across tiers and seeds) back to back, whatever the order of the grid's axes:
    with prefix caching the shared part is computed once and is still cached when the next
    shard of that prefix arrives. Sorting by the token ids of each cell's first pending
    prompt puts the longest shared prefixes next to each other; cells with the same prompts
    (seeds) take turns shard by shard, so each prompt is rendered once for all of them."""
    first: dict[str, list[int]] = {}
    for shard in shards:
        cell = shard.cell
        if cell.id not in first:
            prompt = cell.dataset.prompts[shard.start]
            messages = get_study(cell.config.study.name).messages(cell.config, prompt)
            ids = prepared.renderer(cell).render(messages)[1]
            first[cell.id] = list(ids[:PREFIX_TOKENS])
    return sorted(
        shards,
        key=lambda s: (s.cell.config.model.name, first[s.cell.id], s.start, s.cell.id),
    )
