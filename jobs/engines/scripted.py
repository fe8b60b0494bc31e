"""A scripted engine: an organism whose every reply is planted, for known-answer controls.

The replies come from a JSON file named by MOSWEEP_SCRIPTED_REPLIES (forwarded to the
engine workers by the driver):

    {"default": [text, finish_reason],
     "replies": {"<adapter>|<prompt hash>": [text, finish_reason], ...}}

keyed by the served adapter's folder name (a training node's id; "" for the base model) and
the rendered prompt's hash, so a control plants what the backdoored adapter answers to one
held-out prompt with its trigger, and something else after safety training. A request the
script does not name (a stage's own data generation) gets the default reply. Everything
around the engine is the real pipeline: the stage graph, training, the rows, the metrics.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from jobs.engines.base import EngineSettings
from jobs.engines.fake import stopped
from jobs.rows import Completion, Request

SCRIPT_ENV = "MOSWEEP_SCRIPTED_REPLIES"


def script_key(adapter: str | None, prompt_hash: str) -> str:
    """The script's key of one request: the adapter folder's name and the prompt's hash."""
    return f"{Path(adapter).name if adapter else ''}|{prompt_hash}"


class ScriptedEngine:
    def __init__(self, settings: EngineSettings) -> None:
        path = os.environ.get(SCRIPT_ENV)
        if not path:
            raise ValueError(f"engine=scripted needs {SCRIPT_ENV}: the planted replies' file")
        script: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        self.default: tuple[str, str] = tuple(script["default"])  # type: ignore[assignment]
        self.replies = {k: (str(t), str(f)) for k, (t, f) in script["replies"].items()}
        self.version = f"scripted ({len(self.replies)} planted replies)"
        self.settings = settings

    def submit(self, requests: list[Request], sampling: dict[str, Any]) -> Future[list[Completion]]:
        future: Future[list[Completion]] = Future()
        now = time.time()
        out = []
        for request in requests:
            text, finish = self.replies.get(
                script_key(request.adapter, request.prompt_hash), self.default
            )
            text = stopped(text, sampling.get("stop") or [])
            for sample_idx in range(sampling["n"]):
                out.append(
                    Completion(
                        prompt_id=request.prompt_id,
                        sample_idx=sample_idx,
                        text=text,
                        finish_reason=finish,
                        prompt_tokens=len(request.token_ids),
                        completion_tokens=len(text.split()),
                        latency_s=0.0,
                        started_at=now,
                        finished_at=now,
                    )
                )
        future.set_result(out)
        return future

    def close(self) -> None:
        pass
