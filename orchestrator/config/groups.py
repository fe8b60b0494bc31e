"""The schemas of the config groups a cell is made of (model, engine, sampling, dataset,
prompt variant, study, tracker, ray, sweep): each checks its values once, at startup, and
each error names the override that fixes it. schema.py assembles them into RootConfig."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from orchestrator.errors import UserError

# Hosted chat APIs: the model is a name an endpoint serves; no weights, no tokenizer here.
HOSTED_SOURCES = ("openai", "anthropic")
MODEL_SOURCES = ("hub", "local", "embedded", "tiny", *HOSTED_SOURCES)
DEVICES = ("auto", "cpu", "cuda")


def require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def flatten_grid(grid: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Axis key -> values. YAML writes `study.vars.tier: [...]` as one key; the command line
    (`+grid.study.vars.tier=[...]`) nests it: both mean the axis `study.vars.tier`."""
    flat: dict[str, Any] = {}
    for key, value in grid.items():
        if isinstance(value, dict):
            flat.update(flatten_grid(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@dataclass
class ApiConfig:
    """How a hosted model is called: limits, retries and prices. None of it changes an
    answer, so none of it enters a cell id."""

    # requests in flight at once, per engine replica
    concurrency: int = 8
    # requests started per minute (null: no limit but concurrency)
    requests_per_minute: float | None = None
    # tokens (estimated prompt + max_tokens) per minute (null: no limit)
    tokens_per_minute: float | None = None
    # the client's own retries of a failed call (429, 5xx, timeouts), with backoff that
    # honours Retry-After; a call that still fails fails its shard (retried next run)
    max_retries: int = 5
    # seconds one call may take
    timeout_s: float = 600.0
    # US dollars per million prompt / generated tokens (null: no cost shown)
    price_input: float | None = None
    price_output: float | None = None
    # characters per token, to estimate prompt tokens where no tokenizer is at hand
    chars_per_token: float = 4.0

    def __post_init__(self) -> None:
        require(self.concurrency >= 1, "model.api.concurrency must be >= 1")
        require(
            self.requests_per_minute is None or self.requests_per_minute > 0,
            "model.api.requests_per_minute must be > 0 or null",
        )
        require(
            self.tokens_per_minute is None or self.tokens_per_minute > 0,
            "model.api.tokens_per_minute must be > 0 or null",
        )
        require(self.max_retries >= 0, "model.api.max_retries must be >= 0")
        require(self.timeout_s > 0, "model.api.timeout_s must be > 0")
        require(self.chars_per_token > 0, "model.api.chars_per_token must be > 0")
        for name in ("price_input", "price_output"):
            value = getattr(self, name)
            require(value is None or value >= 0, f"model.api.{name} must be >= 0 or null")


@dataclass
class ModelConfig:
    """One model: where its weights come from and the engine settings its size needs; or,
    for a hosted source (openai, anthropic), the served model's name and its endpoint."""

    name: str = MISSING
    source: str = "hub"
    path: str = MISSING
    revision: str | None = None
    tensor_parallel_size: int = 1
    max_model_len: int = 4096
    dtype: str = "auto"
    chat_template: str | None = None
    adapter: str | None = None  # a local LoRA adapter folder to serve on top of the weights
    # hosted sources: the endpoint (openai: required; anthropic: null takes the provider's)
    # and the environment variable holding its key (never the key itself)
    base_url: str | None = None
    api_key_env: str | None = None
    api: ApiConfig = field(default_factory=ApiConfig)

    @property
    def hosted(self) -> bool:
        return self.source in HOSTED_SOURCES

    def __post_init__(self) -> None:
        if self.name == MISSING:  # the schema's own defaults, before composition
            return
        # It names a results folder (results/model=<name>/): a "/" would nest folders, ".."
        # would leave the sweep folder, "=" would break the partition; a hub id belongs in
        # model.path.
        require(
            bool(self.name)
            and self.name[0].isalpha()
            and all(c.isalnum() or c in "._-" for c in self.name),
            f"model.name={self.name!r} names a results folder: start it with a letter and use "
            "letters, digits, '.', '-' and '_' only (a hub id goes in model.path)",
        )
        require(
            self.source in MODEL_SOURCES,
            f"model.source={self.source!r} is unknown: set model.source to one of "
            f"{', '.join(MODEL_SOURCES)}",
        )
        require(
            self.source != "openai" or bool(self.base_url),
            f"model '{self.name}' (source openai) needs its endpoint: set "
            "model.base_url=http://host:port/v1",
        )
        require(
            not (self.hosted and self.adapter),
            f"model '{self.name}' is hosted (source {self.source}): it cannot serve a local "
            "adapter; unset model.adapter",
        )
        require(self.tensor_parallel_size >= 1, "model.tensor_parallel_size must be >= 1")
        require(self.max_model_len >= 16, "model.max_model_len must be >= 16")


@dataclass
class EngineConfig:
    """How models are served. Nothing here enters a cell id except the effective dtype."""

    name: str = "vllm"
    device: str = "auto"
    dtype: str | None = None
    cpu_dtype: str = "float32"
    max_model_len: int | None = None
    tensor_parallel_size: int | None = None
    enforce_eager: bool = False
    enable_prefix_caching: bool = True
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int = 64
    replicas: int = 1
    shards_in_flight: int | None = None
    num_cpus: float = 1.0
    cpu_threads: int | None = None  # a CPU engine's torch threads; None: the machine's cores
    cpu_kvcache_gib: int = 1
    max_restarts: int = 2
    max_lora_rank: int = 0

    def __post_init__(self) -> None:
        require(
            self.device in DEVICES,
            f"engine.device={self.device!r} is unknown: use one of {', '.join(DEVICES)}",
        )
        require(
            0.05 <= self.gpu_memory_utilization <= 1.0,
            "engine.gpu_memory_utilization must be between 0.05 and 1.0",
        )
        require(self.replicas >= 1, "engine.replicas must be >= 1")
        require(
            self.shards_in_flight is None or self.shards_in_flight >= 1,
            "engine.shards_in_flight must be >= 1 or null",
        )
        require(self.max_num_seqs >= 1, "engine.max_num_seqs must be >= 1")


@dataclass
class SamplingConfig:
    """vLLM sampling parameters; all of them change outputs, so all enter the cell id."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 128
    n: int = 1
    # strings that end a sample where they appear; each is kept in the text, so a parser
    # still reads it (a decision variant stops at its tag: what follows is never scored)
    stop: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        require(self.temperature >= 0, "sampling.temperature must be >= 0")
        require(0 < self.top_p <= 1, "sampling.top_p must be in (0, 1]")
        require(self.max_tokens >= 1, "sampling.max_tokens must be >= 1")
        require(self.n >= 1, "sampling.n must be >= 1")
        require(
            all(isinstance(s, str) and s for s in self.stop),
            "sampling.stop must be a list of non-empty strings, e.g. '[\"</answer>\"]'",
        )


@dataclass
class DatasetConfig:
    """A prompt set: a built-in file, a local JSONL/CSV/Parquet file, or a Hugging Face
    dataset (by name, or a local copy's folder), with a column mapping."""

    name: str = MISSING
    source: str = "builtin"
    path: str = MISSING
    id_field: str | None = "id"
    text_field: str = "prompt"
    limit: int | None = None
    split: str = "train"
    subset: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        require(self.limit is None or self.limit >= 1, "dataset.limit must be >= 1 or null")


@dataclass
class PromptVariantConfig:
    """A versioned pair of Jinja2 templates, inline or as files under conf/templates/ (or any
    absolute path). They see `prompt`, the variant's own `vars` and the study's vars."""

    name: str = MISSING
    version: int = 1
    system: str | None = None
    user: str = "{{ prompt }}"
    system_file: str | None = None
    user_file: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name == MISSING:
            return
        require(
            not (self.system and self.system_file),
            f"prompt_variant '{self.name}' sets both system and system_file: keep one",
        )


@dataclass
class StudyConfig:
    """Which study renders prompts (a registry name) and the variables its templates use."""

    name: str = "prompted"
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrackerConfig:
    """Where progress is mirrored: `wandb` or `none`. Never read back."""

    name: str = "wandb"
    project: str = "mosweep"
    entity: str | None = None
    mode: str | None = None
    sample_rows: int = 20

    def __post_init__(self) -> None:
        require(
            bool(self.project) and not any(c in self.project for c in "/\\#?%:"),
            f"tracker.project={self.project!r} is not a W&B project name: use letters, "
            "digits, '-', '_' and '.'",
        )
        require(self.sample_rows >= 0, "tracker.sample_rows must be >= 0")


@dataclass
class RayConfig:
    """`address: null` starts a local cluster; `auto` joins the one `ray start` made."""

    address: str | None = None
    num_cpus: int | None = None
    namespace: str = "mosweep"


@dataclass
class SweepConfig:
    name: str = MISSING
    description: str = ""

    def __post_init__(self) -> None:
        if self.name == MISSING:
            return
        require(
            bool(self.name) and all(c.isalnum() or c in "-_" for c in self.name),
            f"sweep.name={self.name!r} must use letters, digits, '-' and '_' only",
        )
