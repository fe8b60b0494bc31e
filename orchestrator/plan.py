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
from orchestrator.chat import Renderer, renderer_for
from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError
from orchestrator.grid import Cell
from orchestrator.ids import request_seed, text_hash
from orchestrator.models.adapters import adapter_folder
from orchestrator.studies import get_study


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


def max_model_len(cfg: RootConfig) -> int:
    return cfg.engine.max_model_len or cfg.model.max_model_len


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
    cfg = shard.cell.config
    adapter = served_adapter(shard.cell, trained)
    study = get_study(cfg.study.name)
    limit = max_model_len(cfg)
    requests = []
    for prompt in shard.cell.dataset.prompts[shard.start : shard.end]:
        messages = study.messages(cfg, prompt)
        text, ids = renderer.render(messages)
        tokens = renderer.count(messages, ids)
        if tokens + cfg.sampling.max_tokens > limit:
            about = "about " if renderer.estimated else ""
            how = " (estimated from characters)" if renderer.estimated else ""
            raise UserError(
                f"cell {shard.cell.id} {shard.cell.axes}: prompt '{prompt.id}' has {about}"
                f"{tokens} tokens{how} + sampling.max_tokens={cfg.sampling.max_tokens} > "
                f"max_model_len={limit}: lower sampling.max_tokens or raise model.max_model_len"
            )
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
        labels=labels(shard.cell, sweep, model_path, trained),
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
    """Rendered, budget-checked jobs, with what each model needed to render them."""

    jobs: list[Job]
    paths: dict[str, str]  # models.weights_key -> local weights folder
    chat: dict[str, dict[str, str]]  # model name -> how its prompts were rendered


def prepare_jobs(
    root: RootConfig, shards: list[Shard], trained: dict[str, str] | None = None
) -> Prepared:
    """Model paths (prepared once each), and a rendered, budget-checked job per shard.
    `trained`: cell id -> the adapter its study trains for it before generation."""
    trained = trained or {}
    prepared = Prepared([], {}, {})
    renderers: dict[str, Renderer] = {}
    for shard in shards:
        model = shard.cell.config.model
        # By weights, not name: cells of one name may hold other weights (grid.model.path).
        key = models.weights_key(model)
        if key not in renderers:
            prepared.paths[key] = path = models.prepare_model(model)
            renderers[key] = renderer = renderer_for(model, path)
            prepared.chat[model.name] = {
                "path": path,
                # Templates without a system role get it folded into the first user turn.
                "system_prompt": "system role" if renderer.system_role else "folded into user",
            }
        adapter = trained.get(shard.cell.id)
        task = build_task(shard, root.sweep.name, renderers[key], prepared.paths[key], adapter)
        prepared.jobs.append(Job(shard, task))
    return prepared


# Enough leading tokens to tell prompt variants apart; requests agreeing on all of them
# share a system prompt.
PREFIX_TOKENS = 1024


def prefix_order(jobs: list[Job]) -> list[Job]:
    """Jobs in an order that keeps prompts sharing a prefix (a cell's system prompt, the same
    variant across tiers and seeds) back to back, whatever the order of the grid's axes: with
    prefix caching the shared part is computed once and is still cached when the next shard
    of that prefix arrives. Sorting by the token ids themselves puts the longest shared
    prefixes next to each other."""
    return sorted(
        jobs,
        key=lambda j: (
            j.shard.cell.config.model.name,
            list(j.task.requests[0].token_ids[:PREFIX_TOKENS]) if j.task.requests else [],
            j.shard.cell.id,
            j.shard.start,
        ),
    )
