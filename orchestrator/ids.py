"""Deterministic content hashes: cell ids, dataset hashes, per-request seeds."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_hash(payload: Any, length: int = 12) -> str:
    """A short hex digest of a JSON-able value; key order does not matter."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def text_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def request_seed(cell_seed: int, prompt_id: str) -> int:
    """Seed of one request: depends on the cell's seed and the prompt, never on the shard or
    batch it ran in, so a resumed or re-sharded cell samples the same outputs."""
    digest = hashlib.sha256(f"{cell_seed}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
