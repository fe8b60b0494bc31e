"""A LoRA adapter served on top of a model (`model.adapter`): e.g. a model fine-tuned on
synthetic documents about its training, evaluated with the same prompts as its base.

The adapter's files enter the cell id (through models.identity), so a retrained adapter in
the same folder makes new cells; vLLM serves it with a LoRARequest per request.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.ids import stable_hash


def adapter_folder(path: str) -> Path:
    folder = Path(path).expanduser().resolve()
    if not (folder / "adapter_config.json").is_file():
        raise UserError(
            f"model.adapter={path!r}: {folder} is not a LoRA adapter folder (no "
            "adapter_config.json): point it at a folder saved with peft's save_pretrained"
        )
    return folder


@cache
def adapter_hash(path: str) -> str:
    """A hash of every file in the adapter folder (names and contents)."""
    folder = adapter_folder(path)
    parts = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        parts.append([str(file.relative_to(folder)), hashlib.sha256(file.read_bytes()).hexdigest()])
    return stable_hash(parts, 16)


def adapter_rank(path: str) -> int:
    """The LoRA rank vLLM must be able to serve (`max_lora_rank`)."""
    config = json.loads((adapter_folder(path) / "adapter_config.json").read_text())
    return int(config.get("r", 8))


# The ranks vLLM's LoRA kernels are built for (its LoRAConfig refuses any other).
SERVABLE_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def servable_rank(rank: int) -> int:
    """The smallest rank vLLM accepts as max_lora_rank that can serve `rank` (0: no LoRA)."""
    if rank <= 0:
        return 0
    return next((r for r in SERVABLE_RANKS if r >= rank), rank)
