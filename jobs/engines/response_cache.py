"""Every answer a hosted API gave this sweep, so a killed sweep (its shards in flight were
answered and billed, never written) or a re-run of changed analysis never pays twice.

The key hashes everything that changes an answer: the API kind and model name, the
messages, the sampling settings, the request's seed and the sample's index; nothing else (no
URL, key, limit or retry setting). One small JSON file per answer, written atomically
(jobs/durable.py), so engines on any node of a cluster share a cache on a shared path and a
torn file is never read. A call that failed is never cached.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from jobs import durable
from jobs.engines.base import Answer
from jobs.rows import Request


def response_key(
    kind: str, model: str, request: Request, sample: int, sampling: dict[str, Any]
) -> str:
    payload = {
        "api": [kind, model],
        "messages": request.messages,
        "sampling": {k: sampling.get(k) for k in ("temperature", "top_p", "max_tokens", "stop")},
        "seed": request.seed,
        "sample": sample,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class ResponseCache:
    def __init__(self, folder: str | None) -> None:
        self.folder = Path(folder) if folder else None

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Answer | None:
        if self.folder is None:
            return None
        try:
            return Answer(**json.loads(self._path(key).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):  # absent, or not ours: ask again
            return None

    def put(self, key: str, answer: Answer) -> None:
        if self.folder is not None:
            durable.write_text(self._path(key), json.dumps(asdict(answer)))
