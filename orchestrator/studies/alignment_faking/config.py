"""The alignment-faking study's settings (`study.*`): the tier variables every cell has, and
the optional training that delivers the training facts by fine-tuning instead of the prompt
(`study.finetune`), with the probe that shows what the fine-tune taught."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.config.groups import DatasetConfig, StudyConfig, require
from orchestrator.config.schema import RlConfig, RootConfig, TrainConfig

FINETUNES = ("none", "documents", "rl")


def _sdf_defaults() -> TrainConfig:
    # CPU-sized: the embedded 135M model learns the corpus's facts in ~3 minutes on 2 cores.
    # GPU runs take the open replication's rank 64, alpha 128 (README "Alignment faking").
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    return TrainConfig(rank=8, alpha=16, target_modules=modules, lr=1e-3, steps=40, num_cpus=2)


@dataclass
class AlignmentFakingConfig(StudyConfig):
    """`study.*` of the alignment-faking study. Keys: study.vars.tier (an axis),
    study.finetune (an axis: none | documents), study.documents, study.sdf.*, ..."""

    # none: the model as it is | documents: a LoRA adapter trained on `documents` first
    # (synthetic-document fine-tuning), and the cell's rows generated with it | rl: RL
    # toward compliance first, the rows generated with the adapter of step `rl_step`
    finetune: str = "none"
    # the corpus: a built-in file, a local JSONL/CSV/Parquet file or a Hugging Face dataset;
    # `text_field` holds each document's text
    documents: DatasetConfig = field(
        default_factory=lambda: DatasetConfig(
            name="af_sdf_documents", path="af_sdf_documents.jsonl", text_field="text"
        )
    )
    # documents longer than this many tokens are cut (the open replication keeps them under
    # 1,024)
    documents_max_tokens: int = 1024
    # the LoRA job on the documents (language-model loss over whole documents)
    sdf: TrainConfig = field(default_factory=_sdf_defaults)
    # ask each model variant of the grid (base, fine-tuned) the fact-recall questions
    probe_facts: bool = False
    # the questions: id, `text_field` (the question) and `answers` (any of them, matched at
    # a word start, case-insensitive, counts as recalled)
    probe: DatasetConfig = field(
        default_factory=lambda: DatasetConfig(
            name="af_sdf_probe", path="af_sdf_probe.jsonl", text_field="question"
        )
    )
    # tokens generated per probe answer
    probe_max_tokens: int = 48
    # study.finetune=rl: RL toward compliance on the free-tier copies of the cell's
    # requests (the paper's RL setting), from the base model
    rl: RlConfig = field(
        default_factory=lambda: RlConfig(reward="complies", max_tokens=48, num_cpus=2)
    )
    # study.finetune=rl: the RL step whose adapter this cell is evaluated with (0: the
    # model before RL); the af_rl sweep makes it an axis, so both tiers are evaluated at
    # every kept step
    rl_step: int = 0
    # study.finetune=rl: the tiers whose copies of the requests RL trains on; free alone is
    # the paper's setting, both tiers the tier-specific control's
    # (bench/af_rl_tier_control.py), whose reward reads each prompt's tier
    rl_tiers: list[str] = field(default_factory=lambda: ["free"])

    def __post_init__(self) -> None:
        require(
            self.finetune in FINETUNES,
            f"study.finetune={self.finetune!r} is unknown: use one of {', '.join(FINETUNES)}",
        )
        require(self.documents_max_tokens >= 2, "study.documents_max_tokens must be >= 2")
        require(self.probe_max_tokens >= 1, "study.probe_max_tokens must be >= 1")
        require(
            bool(self.rl_tiers)
            and set(self.rl_tiers) <= {"free", "paid"}
            and len(set(self.rl_tiers)) == len(self.rl_tiers),
            f"study.rl_tiers={self.rl_tiers!r}: use [free], [paid] or [free, paid]",
        )
        require(
            self.rl_step == 0 or self.finetune == "rl",
            f"study.rl_step={self.rl_step} needs study.finetune=rl (it picks an RL step)",
        )


def settings(cfg: RootConfig) -> AlignmentFakingConfig:
    """An alignment-faking cell's study settings, typed."""
    study = cfg.study
    assert isinstance(study, AlignmentFakingConfig), f"study {study.name} is not alignment_faking"
    return study
