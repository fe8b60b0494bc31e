"""What stage nodes of any study build from: each model's weights and chat renderer, one
user turn as a request, greedy sampling, and a training set (prompt and completion pairs,
or whole documents) tokenized into a LoRA job (a finetune node's `TaskWork`)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from jobs.finetune import LoraSettings, TrainSpec, train_adapter
from jobs.judge_reward import JudgeRewardSpec
from jobs.rl import RlSettings, RlSpec, step_folder, train_rl
from jobs.rows import Request
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.schema import RlConfig, RootConfig, TrainConfig
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.node import TaskWork
from orchestrator.ids import request_seed, text_hash

# Settings that change where or how a job runs, not what it learns: not in any id (resumes
# are exact, so the checkpoint interval changes nothing; checkpointing recomputes the same
# activations).
TRANSPORT = ("num_cpus", "checkpoint_every", "gradient_checkpointing", "verl")
# Settings added later, left out of ids at their defaults so older adapters keep theirs.
QUIET_DEFAULTS: dict[str, Any] = {
    "schedule": "constant",
    "warmup_steps": 0,
    "trainer": "trl",
    "stop": [],
    "scale_rewards": "group",
    "shuffle": True,
}
# An RL job's learning rate always followed TRL's linear schedule (a finetune's is constant)
# and its KL term TRL's bias-corrected gradient
RL_QUIET_DEFAULTS: dict[str, Any] = {"schedule": "linear", "kl_correction": True}


def training_identity(settings: TrainConfig) -> dict[str, Any]:
    """What a training job's settings contribute to its node id."""
    return {
        k: v
        for k, v in asdict(settings).items()
        if k not in TRANSPORT and QUIET_DEFAULTS.get(k, k) != v
    }


class Served:
    """Each model's weights folder and chat renderer, prepared once per invocation."""

    def __init__(self) -> None:
        self.paths: dict[str, str] = {}
        self.renderers: dict[str, ChatRenderer] = {}

    def renderer(self, cfg: RootConfig) -> ChatRenderer:
        # By weights, not name: cells of one name may hold other weights (grid.model.path).
        key = models.weights_key(cfg.model)
        if key not in self.renderers:
            self.paths[key] = models.prepare_model(cfg.model)
            self.renderers[key] = ChatRenderer(cfg.model, self.paths[key])
        return self.renderers[key]

    def path(self, cfg: RootConfig) -> str:
        self.renderer(cfg)
        return self.paths[models.weights_key(cfg.model)]


def user_request(
    renderer: ChatRenderer, content: str, key: str, seed: int, adapter: str | None = None
) -> Request:
    """One user turn rendered with the model's chat template, as a node's request."""
    text, ids = renderer.render([{"role": "user", "content": content}])
    return Request(key, text, ids, text_hash(text), request_seed(seed, key), adapter=adapter)


def greedy(max_tokens: int) -> dict[str, Any]:
    """Greedy sampling, one sample: what a stage's own generations use."""
    return {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens, "n": 1}


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding id (some chat models have none: 0 then, masked anyway)."""
    return int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0


def train_spec(
    renderer: ChatRenderer,
    examples: list[dict[str, Any]],
    settings: TrainConfig,
    seed: int,
    paths: tuple[str, str, str],
    init_adapter: str | None,
    device: str,
) -> TrainSpec:
    """Tokenize a training set with the model's chat template (prompt) and EOS (completion)."""
    base, output, work = paths
    tokenizer = renderer.tokenizer
    pairs = []
    for example in examples:
        _, prompt_ids = renderer.render([{"role": "user", "content": str(example["prompt"])}])
        target = tokenizer(str(example["completion"]), add_special_tokens=False)["input_ids"]
        pairs.append((prompt_ids, [*target, tokenizer.eos_token_id]))
    return TrainSpec(
        base_model=base,
        examples=pairs,
        output=output,
        work=work,
        lora=LoraSettings.of(settings),
        init_adapter=init_adapter,
        seed=seed,
        pad_id=pad_id(tokenizer),
        device="cuda" if device == "cuda" else "cpu",
        revision=renderer.revision,
    )


def finetune_work(
    artifacts: Artifacts,
    node_id: str,
    data: str,
    renderer: ChatRenderer,
    model_path: str,
    settings: TrainConfig,
    seed: int,
    device: str,
    stage: str,
    init: str | None = None,
) -> TaskWork:
    """A finetune node's job: a LoRA adapter for `node_id` trained on derive node `data`
    (continuing adapter `init`, a finetune node's id, if given)."""
    paths = (model_path, artifacts.adapter(node_id), str(artifacts.path("work", node_id)))
    start = artifacts.adapter(init) if init else None
    spec = train_spec(renderer, artifacts.data(data), settings, seed, paths, start, device)
    label = f"{stage}-{node_id}"
    return TaskWork(train_adapter, (replace(spec, label=label),), settings.num_cpus, label)


def documents_work(
    artifacts: Artifacts,
    node_id: str,
    documents: list[str],
    max_tokens: int,
    renderer: ChatRenderer,
    model_path: str,
    settings: TrainConfig,
    seed: int,
    device: str,
    stage: str,
) -> TaskWork:
    """A LoRA job with language-model loss over whole documents (no chat template): each
    document is cut to `max_tokens` and ends with EOS, and every token of it is a target."""
    tokenizer = renderer.tokenizer
    examples: list[tuple[list[int], list[int]]] = [
        (
            [],
            [
                *tokenizer(text, add_special_tokens=False)["input_ids"][: max_tokens - 1],
                tokenizer.eos_token_id,
            ],
        )
        for text in documents
    ]
    spec = TrainSpec(
        base_model=model_path,
        examples=examples,
        output=artifacts.adapter(node_id),
        work=str(artifacts.path("work", node_id)),
        lora=LoraSettings.of(settings),
        seed=seed,
        pad_id=pad_id(tokenizer),
        device="cuda" if device == "cuda" else "cpu",
        label=f"{stage}-{node_id}",
        revision=renderer.revision,
    )
    return TaskWork(train_adapter, (spec,), settings.num_cpus, spec.label)


def rl_identity(settings: RlConfig, judge: str | None = None) -> dict[str, Any]:
    """What an RL job's settings contribute to its node id (not its CPUs or checkpoints);
    reward=judge adds the judge's identity (orchestrator/judges/spec.py reward_judge)."""
    quiet = QUIET_DEFAULTS | RL_QUIET_DEFAULTS
    return ({"judge": judge} if judge else {}) | {
        k: v for k, v in asdict(settings).items() if k not in TRANSPORT and quiet.get(k, k) != v
    }


def rl_adapter(artifacts: Artifacts, node_id: str, step: int) -> str:
    """The adapter an rl node kept at `step`."""
    return str(Path(artifacts.adapter(node_id)) / step_folder(step))


def rl_work(
    artifacts: Artifacts,
    node_id: str,
    prompts: list[list[dict[str, str]]],
    renderer: ChatRenderer,
    model_path: str,
    settings: RlConfig,
    seed: int,
    device: str,
    stage: str,
    init: str | None = None,
    requests: list[str] | None = None,
    judge: JudgeRewardSpec | None = None,
) -> TaskWork:
    """An rl node's job: a LoRA policy (continuing adapter `init`, a node id, if given)
    optimised on `prompts` (each a list of chat turns), rendered with the model's chat
    template; with reward=judge, `judge` grades each rollout of the request beside it."""
    texts = [renderer.render(turns)[0] for turns in prompts]
    spec = RlSpec(
        base_model=model_path,
        prompts=texts,
        reward=settings.reward,
        output=artifacts.adapter(node_id),
        work=str(artifacts.path("work", node_id)),
        settings=RlSettings.of(settings),
        init_adapter=artifacts.adapter(init) if init else None,
        seed=seed,
        device="cuda" if device == "cuda" else "cpu",
        label=f"{stage}-{node_id}",
        revision=renderer.revision,
        turns=[json.dumps(turns) for turns in prompts],
        reward_model=settings.reward_model or None,
        requests=list(requests or []),
        judge=judge,
    )
    keys = (judge.api_key_env,) if judge and judge.backend == "openai" else ()
    return TaskWork(train_rl, (spec,), settings.num_cpus, spec.label, secret_env=keys)
