"""The RL job: a LoRA adapter optimised online against a reward with TRL's GRPO trainer.

It runs as a Ray task like the fine-tuning job. Prompts arrive rendered by the driver (chat
template applied); each step samples `generations` completions for each of
`prompts_per_step` prompts with the policy itself, scores them with a registered reward
(`REWARDS`: rule-based rewards that need no model; a judge or reward model plugs in the same
way) and takes one optimizer step. The adapter at every `eval_every`-th step is kept, so a
study can evaluate the policy against RL step.

Rollouts must come from the current policy: stale-adapter rollouts (a generation copy
whose weights lag the trainer's) and reused rollout batches are known failures of RL
stacks. The job fingerprints the weights that generated each step's rollouts and those the
step started from, and stops with `StaleRollouts` when they differ (its report lists both).

Interrupted, it resumes from its last checkpoint (the trainer's own: weights, optimizer,
scheduler, RNG and step); a step adapter it makes again replaces the one kept before. The
finished folder (the kept step adapters, training.json) is published by one rename."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from jobs import durable
from jobs.judge_reward import JudgeReward, JudgeRewardSpec
from jobs.rl_config import CURVES, REWARDS, RlSettings, accepts, hhh_proxy, no_refusal
from jobs.rl_reward import reward_columns, scorer

__all__ = ["REWARDS", "RlSettings", "RlSpec", "StaleRollouts", "accepts", "hhh_proxy", "no_refusal"]


@dataclass(frozen=True)
class RlSpec:
    base_model: str
    prompts: list[str]  # rendered with the chat template by the driver
    reward: str  # a name in REWARDS, "model": the reward model below, or "judge"
    output: str  # the finished folder: step-NNNNNN/ adapters and training.json
    work: str  # trainer checkpoints and the step adapters of an unfinished run
    settings: RlSettings = field(default_factory=RlSettings)
    init_adapter: str | None = None  # continue this adapter (safety training of a backdoor)
    seed: int = 0
    device: str = "cpu"
    label: str = ""
    revision: str | None = None
    turns: list[str] = field(default_factory=list)  # each prompt's chat turns, as JSON
    reward_model: str | None = None  # reward="model": a Hugging Face id or local folder
    requests: list[str] = field(default_factory=list)  # each prompt's request, for a judge
    judge: JudgeRewardSpec | None = None  # reward="judge": the judge that grades rollouts


class StaleRollouts(RuntimeError):
    """A step trained on rollouts that its starting weights did not generate."""


def kept_steps(settings: RlSettings) -> list[int]:
    """The steps whose adapters are kept: every `eval_every`-th, and the last."""
    steps = list(range(settings.eval_every, settings.steps + 1, settings.eval_every))
    return steps if steps and steps[-1] == settings.steps else [*steps, settings.steps]


def step_folder(step: int) -> str:
    return f"step-{step:06d}"


def fingerprint(model: Any) -> str:
    """A hash of the trainable (adapter) weights."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def train_rl(spec: RlSpec, secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """Run (or resume) the RL job and publish its step adapters; returns its curves."""
    import torch
    from datasets import Dataset
    from trl.trainer.grpo_trainer import GRPOTrainer

    os.environ.update(secrets or {})
    torch.manual_seed(spec.seed)
    work, output = Path(spec.work), Path(spec.output)
    (work / "steps").mkdir(parents=True, exist_ok=True)
    resume = _last_checkpoint(work)
    model = _policy(spec)
    watch = RolloutWatch(model, spec.settings, work / "steps")
    scores = scorer(spec.reward, spec.reward_model, spec.judge, spec.device)
    settings, ends = spec.settings, _eos_ids(model)

    def reward(
        completions: list[str],
        completion_ids: list[list[int]],
        turns: list[str],
        request: list[str],
        **_: Any,
    ) -> list[float | None]:
        # A completion cut at max_tokens earns truncated_factor of its reward: below 1, the
        # policy learns to end its replies (an evaluation scores only replies that end).
        cut = settings.truncated_factor
        ended = [
            _ended(ids, ends, settings.max_tokens) or text.endswith(tuple(settings.stop))
            for text, ids in zip(completions, completion_ids, strict=True)
        ]
        return [
            score * (1.0 if done else cut)
            for score, done in zip(scores(completions, turns, request, ended), ended, strict=True)
        ]

    reward.__name__ = spec.reward  # names the curve in the trainer's logs
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=_config(spec, work, ends),
        train_dataset=Dataset.from_dict(
            {"prompt": spec.prompts, **reward_columns(spec.prompts, spec.turns, spec.requests)}
        ),
        callbacks=[watch],
    )
    trainer.remove_callback(PrinterCallback)  # the curves go to the report, not the console
    if settings.stop:
        _stop_with(model, trainer.processing_class)
    started = time.monotonic()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.monotonic() - started
    history = trainer.state.log_history
    report = {
        "label": spec.label,
        "steps": spec.settings.steps,
        "resumed_at": int(resume.name.split("-")[1]) if resume else None,
        **{name: [h[key] for h in history if key in h] for name, key in CURVES.items()},
        "kept_steps": kept_steps(spec.settings),
        "rollouts": watch.rollouts,
        "seconds": seconds,
        "reward_name": spec.reward,
    }
    if isinstance(scores, JudgeReward):  # rollouts the judge did not grade earned 0
        report["judge_graded"], report["judge_ungraded"] = scores.graded, scores.ungraded
    _finish(work / "steps", report, output)
    shutil.rmtree(work, ignore_errors=True)
    return report


class RolloutWatch(TrainerCallback):
    """A trainer callback that keeps the step adapters and checks that every step's
    rollouts came from the weights it started with. It wraps the policy's `generate`,
    which is what the trainer samples rollouts with."""

    def __init__(self, model: Any, settings: RlSettings, steps: Path) -> None:
        self.model, self.settings, self.steps = model, settings, steps
        self.start = fingerprint(model)  # the weights the next step starts from
        self.generated: str | None = None  # the weights that sampled the latest rollouts
        self.rollouts: list[dict[str, Any]] = []
        generate = model.generate

        def watched(*args: Any, **kwargs: Any) -> Any:
            self.generated = fingerprint(model)
            return generate(*args, **kwargs)

        model.generate = watched

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.start = fingerprint(self.model)  # a resumed run: the checkpoint's weights

    def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        durable.announce(self.steps.parent)  # a whole checkpoint: jobs/published.py sends it

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        step = int(state.global_step)
        self.rollouts.append({"step": step, "started": self.start, "generated": self.generated})
        if self.generated != self.start:
            raise StaleRollouts(
                f"RL step {step} trained on rollouts sampled by weights {self.generated}, "
                f"not by the weights it started from ({self.start})"
            )
        self.start = fingerprint(self.model)
        if step in kept_steps(self.settings):
            staging = self.steps / f"{step_folder(step)}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            self.model.save_pretrained(staging)
            # a resumed run redoes steps the stopped one kept: its own adapters replace them
            shutil.rmtree(self.steps / step_folder(step), ignore_errors=True)
            durable.publish_folder(staging, self.steps / step_folder(step))


def _stop_with(model: Any, tokenizer: Any) -> None:
    """Let the policy's `generate` read stop strings: transformers matches them against
    token text, so it needs the tokenizer, which the trainer does not pass."""
    generate = model.generate

    def stopping(*args: Any, **kwargs: Any) -> Any:
        return generate(*args, tokenizer=tokenizer, **kwargs)

    model.generate = stopping


def _eos_ids(model: Any) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos) if isinstance(eos, list) else {eos} if eos is not None else set()


def _ended(ids: list[int], eos: set[int], max_tokens: int) -> bool:
    """Did the policy end this completion (an end token), or was it cut at max_tokens?"""
    return len(ids) < max_tokens or bool(ids and ids[-1] in eos)


def _policy(spec: RlSpec) -> Any:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from jobs.finetune import train_dtype

    dtype = getattr(torch, train_dtype(spec.device))
    base = AutoModelForCausalLM.from_pretrained(
        spec.base_model, revision=spec.revision, dtype=dtype
    )
    if spec.init_adapter:
        return PeftModel.from_pretrained(base, spec.init_adapter, is_trainable=True)
    settings = spec.settings
    depth = int(base.config.num_hidden_layers)
    last = min(settings.last_layers, depth)
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        target_modules=list(settings.target_modules),
        layers_to_transform=list(range(depth - last, depth)) if last else None,
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config)


def _config(spec: RlSpec, work: Path, ends: set[int]) -> Any:
    from trl.trainer.grpo_config import GRPOConfig

    settings = spec.settings
    # A rollout a stop string ends while others go on is padded with an end token; the trainer
    # keeps one end token in it (masking the rest), so the policy learns to end there too (one
    # that stops last has none: the reward still counts it as ended, by its text).
    pad = {"pad_token_id": min(ends)} if ends else {}
    stops = {"stop_strings": list(settings.stop), **pad} if settings.stop else None
    return GRPOConfig(
        generation_kwargs=stops,
        output_dir=str(work),
        max_steps=settings.steps,
        # one generation batch per optimizer step: every step samples fresh rollouts
        per_device_train_batch_size=settings.prompts_per_step * settings.generations,
        num_generations=settings.generations,
        max_completion_length=settings.max_tokens,
        temperature=settings.temperature,
        learning_rate=settings.lr,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_steps,
        beta=settings.beta,
        use_bias_correction_kl=settings.kl_correction,
        scale_rewards=settings.scale_rewards,
        shuffle_dataset=settings.shuffle,
        save_strategy="steps",
        save_steps=settings.checkpoint_every,
        # the newest two: a kill while saving the newest leaves the one before it whole
        save_total_limit=2,
        logging_steps=1,
        report_to=[],
        seed=spec.seed,
        data_seed=spec.seed,
        use_cpu=spec.device != "cuda",
        bf16=spec.device == "cuda",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def _last_checkpoint(work: Path) -> Path | None:
    """The newest complete trainer checkpoint (its trainer_state.json is written last); a
    checkpoint cut short by a kill is set aside."""
    found = sorted(work.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    for checkpoint in reversed(found):
        if (checkpoint / "trainer_state.json").is_file():
            return checkpoint
        shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def _finish(steps: Path, report: dict[str, Any], output: Path) -> None:
    staging = durable.staging_folder(output)
    for kept in sorted(steps.glob("step-*")):
        if not kept.name.endswith(".tmp"):
            shutil.copytree(kept, staging / kept.name)
    (staging / "training.json").write_text(json.dumps(report, indent=1))
    durable.publish_folder(staging, output)
