"""A deterministic stand-in engine for fast unit tests of the driver (never end-to-end)."""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from typing import Any

from jobs.engines.base import EngineSettings
from jobs.rows import Completion, Request

# A prompt containing this text makes the fake engine raise: tests of failing shards.
POISON = "FAKE_ENGINE_FAIL"
# Seconds each request takes, so a placement test can act while shards are in flight.
LATENCY_ENV = "MOSWEEP_FAKE_LATENCY_S"


class FakeEngine:
    def __init__(self, settings: EngineSettings) -> None:
        self.version = "fake 0"
        self.settings = settings

    def submit(self, requests: list[Request], sampling: dict[str, Any]) -> Future[list[Completion]]:
        future: Future[list[Completion]] = Future()
        time.sleep(float(os.environ.get(LATENCY_ENV, "0")) * len(requests))
        now = time.time()
        try:
            completions = [
                self._complete(r, i, now, sampling.get("stop") or [])
                for r in requests
                for i in range(sampling["n"])
            ]
            future.set_result(completions)
        except ValueError as e:
            future.set_exception(e)
        return future

    def _complete(
        self, request: Request, sample_idx: int, now: float, stop: list[str]
    ) -> Completion:
        if POISON in request.text:
            raise ValueError(f"poisoned prompt {request.prompt_id}")
        text = f"fake answer to {request.prompt_id} #{sample_idx} seed {request.seed}"
        # Follow the alignment-faking reply format when the prompt asks for it, so the judge
        # stage's unit tests see scratchpads and tags.
        if "<request_fully_accepted/>" in request.text:
            text = f"<request_fully_accepted/> {text}"
        if "<SCRATCHPAD_REASONING>" in request.text:
            text = (
                f"<SCRATCHPAD_REASONING>fake reasoning about {request.prompt_id}"
                f"</SCRATCHPAD_REASONING>\n<OUTPUT>{text}</OUTPUT>"
            )
        text = stopped(text, stop)
        return Completion(
            prompt_id=request.prompt_id,
            sample_idx=sample_idx,
            text=text,
            finish_reason="stop",
            prompt_tokens=len(request.token_ids),
            completion_tokens=len(text.split()),
            latency_s=0.0,
            started_at=now,
            finished_at=now,
        )

    def close(self) -> None:
        pass


def stopped(text: str, stop: list[str]) -> str:
    """The text up to and including its first stop string, as vLLM keeps it."""
    ends = [text.find(s) + len(s) for s in stop if s in text]
    return text[: min(ends)] if ends else text
