"""What stage nodes of any study build from: one user turn as a request, greedy sampling,
and a training set tokenized into a LoRA job (a finetune node's `TaskWork`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jobs.finetune import LoraSettings, TrainSpec, train_adapter
from jobs.rows import Request
from orchestrator.chat import ChatRenderer
from orchestrator.config.schema import TrainConfig
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.node import TaskWork
from orchestrator.ids import request_seed, text_hash


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
