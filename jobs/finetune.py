"""The fine-tuning job: LoRA (peft) on a causal LM, resumable from its last checkpoint.

It runs as a Ray task with the resources config asks for (GPUs on a cluster, CPUs here).
Examples arrive tokenized by the driver (prompt ids, completion ids); the loss covers the
completion only, so an example with no prompt ids is plain language-model loss over a whole
document (synthetic-document fine-tuning). On CUDA the base model loads in bf16 with
gradient checkpointing (an 8B model's fp32 weights alone are ~32 GB). Batches are a
function of (seed, step), so a resumed job trains on exactly the batches an uninterrupted
one would have. The finished adapter is written to a temporary folder and renamed into
place: a folder with the final name is always complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from jobs import durable

# Loss is not computed on these label positions (prompt and padding).
IGNORE = -100


@dataclass
class LoraSettings:
    """How a LoRA job trains. The config schema's TrainConfig extends it (adding resources
    and validation), so the settings are declared once."""

    rank: int = 8
    alpha: int = 16
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    lr: float = 1e-3
    steps: int = 30
    batch_size: int = 8
    checkpoint_every: int = 10
    # constant | linear | cosine: the lr after warmup (linear and cosine decay to 0 at `steps`)
    schedule: str = "constant"
    warmup_steps: int = 0
    # CUDA only: recompute activations in the backward pass (memory for time)
    gradient_checkpointing: bool = True

    @classmethod
    def of(cls, settings: LoraSettings) -> LoraSettings:
        """Just these settings of a subclass instance: plain data for a Ray worker."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls)}
        return cls(**{**values, "target_modules": list(settings.target_modules)})


@dataclass(frozen=True)
class TrainSpec:
    """One LoRA training job: where from, on what, how, and where to."""

    base_model: str
    examples: list[tuple[list[int], list[int]]]  # (prompt ids, completion ids incl. EOS)
    output: str  # the finished adapter's folder
    work: str  # checkpoints of an unfinished run
    lora: LoraSettings = field(default_factory=LoraSettings)
    init_adapter: str | None = None  # continue training this adapter (safety training)
    seed: int = 0
    pad_id: int = 0
    device: str = "cpu"
    label: str = ""  # names the job in logs
    revision: str | None = None  # a hub base model's commit (resolved by the driver)


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The example indices of one step: epochs are seeded permutations, steps slice them."""
    import numpy as np

    out: list[int] = []
    position = step * batch_size
    while len(out) < batch_size:
        epoch, offset = divmod(position, n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        take = min(batch_size - len(out), n - offset)
        out += [int(i) for i in order[offset : offset + take]]
        position += take
    return out


def lr_at(lora: LoraSettings, step: int) -> float:
    """The learning rate of optimizer step `step` (0-based): linear warmup, then the schedule.
    A function of the step alone, so a resumed job continues the same curve."""
    import math

    if step < lora.warmup_steps:
        return lora.lr * (step + 1) / (lora.warmup_steps + 1)
    span = max(1, lora.steps - lora.warmup_steps)
    done = (step - lora.warmup_steps) / span
    if lora.schedule == "linear":
        return lora.lr * (1.0 - done)
    if lora.schedule == "cosine":
        return lora.lr * 0.5 * (1.0 + math.cos(math.pi * done))
    return lora.lr


def train_dtype(device: str) -> str:
    """bf16 where the hardware has it (CUDA), else fp32 (CPU kernels for bf16 training are
    slow and lose precision the tiny CPU runs need)."""
    return "bfloat16" if device == "cuda" else "float32"


def _collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    import torch

    rows = [(p + c, [IGNORE] * len(p) + c) for p, c in examples]
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (tokens, targets) in enumerate(rows):
        ids[i, : len(tokens)] = torch.tensor(tokens)
        labels[i, : len(targets)] = torch.tensor(targets)
        mask[i, : len(tokens)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _model(spec: TrainSpec, checkpoint: Path | None) -> Any:
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, train_dtype(spec.device))
    base = AutoModelForCausalLM.from_pretrained(
        spec.base_model, revision=spec.revision, dtype=dtype
    )
    if spec.device == "cuda" and spec.lora.gradient_checkpointing:
        # Non-reentrant: works with frozen base weights without forcing input gradients.
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    start_from = checkpoint or (Path(spec.init_adapter) if spec.init_adapter else None)
    if start_from is not None:
        return PeftModel.from_pretrained(base, str(start_from), is_trainable=True)
    config = LoraConfig(
        r=spec.lora.rank,
        lora_alpha=spec.lora.alpha,
        target_modules=list(spec.lora.target_modules),
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config)


def train_adapter(spec: TrainSpec, secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """Train (or resume) and save the adapter; returns its loss curve and timings. `secrets`:
    hub credentials, set in this process (never passed through Ray's runtime_env)."""
    import torch

    os.environ.update(secrets or {})

    torch.manual_seed(spec.seed)
    work, output = Path(spec.work), Path(spec.output)
    checkpoint = _last_checkpoint(work)
    resumed = checkpoint is not None
    model = _model(spec, checkpoint).to(spec.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.lora.lr)
    step, losses = 0, []
    if checkpoint is not None:
        # weights_only: a checkpoint is data; a tampered one must not run code on load.
        state = torch.load(checkpoint / "state.pt", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        step, losses = state["step"], state["losses"]
    started, first = time.monotonic(), step
    model.train()
    while step < spec.lora.steps:
        chosen = [
            spec.examples[i]
            for i in batch_indices(len(spec.examples), spec.lora.batch_size, spec.seed, step)
        ]
        batch = {k: v.to(spec.device) for k, v in _collate(chosen, spec.pad_id).items()}
        for group in optimizer.param_groups:
            group["lr"] = lr_at(spec.lora, step)
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        step += 1
        losses.append(float(loss.item()))
        if step % spec.lora.checkpoint_every == 0 and step < spec.lora.steps:
            _checkpoint(model, optimizer, step, losses, work)
    seconds = time.monotonic() - started
    report = {
        "label": spec.label,
        "steps": spec.lora.steps,
        "resumed_at": first if resumed else None,
        "losses": losses,
        "seconds": seconds,
        "seconds_per_step": seconds / max(1, spec.lora.steps - first),
        # read back from the model: what it trained in, not what was asked for
        "dtype": str(next(p for p in model.parameters() if not p.requires_grad).dtype),
        "gradient_checkpointing": bool(model.base_model.model.is_gradient_checkpointing),
    }
    _finish(model, report, output)
    shutil.rmtree(work, ignore_errors=True)
    return report


def _last_checkpoint(work: Path) -> Path | None:
    """The newest complete checkpoint: `checkpoint`, or `checkpoint.old` when a kill fell
    between the two renames of `_checkpoint`."""
    for name in ("checkpoint", "checkpoint.old"):
        if (work / name / "state.pt").is_file():
            return work / name
    return None


def _checkpoint(model: Any, optimizer: Any, step: int, losses: list[float], work: Path) -> None:
    """Adapter and optimizer state, swapped in by renames: a kill at any point leaves one
    complete checkpoint."""
    import torch

    staging, current, old = work / "checkpoint.tmp", work / "checkpoint", work / "checkpoint.old"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    state = {"optimizer": optimizer.state_dict(), "step": step, "losses": losses}
    torch.save(state, staging / "state.pt")
    shutil.rmtree(old, ignore_errors=True)
    if current.is_dir():
        os.replace(current, old)
    durable.publish_folder(staging, current)  # flushed: a power loss keeps one whole copy
    shutil.rmtree(old, ignore_errors=True)


def _finish(model: Any, report: dict[str, Any], output: Path) -> None:
    staging = durable.staging_folder(output)
    model.save_pretrained(staging)
    (staging / "training.json").write_text(json.dumps(report, indent=1))
    durable.publish_folder(staging, output)
