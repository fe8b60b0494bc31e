"""The vLLM engine's threads: the engine is built by the thread that steps it (on CPU, one
built on another thread generated 1.2x slower with a core partly idle), a model that cannot
load fails the constructor, and a CPU engine gets every core as torch threads (Ray would
give it engine.num_cpus). vllm.LLM is replaced by a stand-in that records which thread
builds and steps it; the real engine runs in the end-to-end tests."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from jobs.engines.base import EngineSettings
from jobs.rows import Request
from orchestrator.run import load_sweep
from orchestrator.workers import worker_env

SETTINGS = EngineSettings(model_path="m", device="cpu", dtype="float32", max_model_len=64)


class StandIn:
    """vllm.LLM's surface the engine uses: an llm_engine that finishes each request at once."""

    built_on: ClassVar[str | None] = None
    stepped_on: ClassVar[set[str]] = set()
    fail: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        if StandIn.fail:
            raise OSError("no config.json in m")
        StandIn.built_on = threading.current_thread().name
        self.waiting: list[tuple[str, Any]] = []
        self.llm_engine = self

    def add_request(self, request_id: str, prompt: Any, params: Any, lora_request: Any) -> None:
        self.waiting.append((request_id, prompt))

    def has_unfinished_requests(self) -> bool:
        return bool(self.waiting)

    def step(self) -> list[Any]:
        StandIn.stepped_on.add(threading.current_thread().name)
        done, self.waiting = self.waiting, []
        sample = SimpleNamespace(index=0, text="ok", finish_reason="stop", token_ids=[1])
        return [
            SimpleNamespace(request_id=i, finished=True, outputs=[sample], prompt_token_ids=[1, 2])
            for i, _ in done
        ]


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> type[StandIn]:
    import vllm

    import jobs.engines.vllm_engine as module

    monkeypatch.setattr(vllm, "LLM", StandIn)
    monkeypatch.setattr(module, "sampling_params", lambda sampling, seed: None)
    StandIn.built_on, StandIn.stepped_on, StandIn.fail = None, set(), False
    return StandIn


def test_the_engine_is_built_by_the_thread_that_steps_it(stand_in: type[StandIn]) -> None:
    from jobs.engines.vllm_engine import VLLMEngine

    engine = VLLMEngine(SETTINGS)
    try:
        requests = [Request("p1", "hi", [1, 2], "p1", 0), Request("p2", "yo", [3], "p2", 0)]
        completions = engine.submit(requests, {}).result(timeout=10)
    finally:
        engine.close()
    assert sorted(c.prompt_id for c in completions) == ["p1", "p2"]
    # Before: built on the caller's thread (an actor's), stepped on the loop thread.
    assert stand_in.built_on == "vllm-engine-loop"
    assert stand_in.stepped_on == {"vllm-engine-loop"}


def test_a_model_that_cannot_load_fails_the_constructor(stand_in: type[StandIn]) -> None:
    from jobs.engines.vllm_engine import VLLMEngine

    stand_in.fail = True
    with pytest.raises(OSError, match="no config.json"):
        VLLMEngine(SETTINGS)


def test_a_cpu_engine_gets_every_core_as_torch_threads_unless_told() -> None:
    _, root, _ = load_sweep(["+sweep=smoke"])
    assert root.engine.num_cpus == 1  # what Ray reserves (and would give as threads)
    assert worker_env(root, "cpu", "/c")["OMP_NUM_THREADS"] == str(os.cpu_count())
    _, root, _ = load_sweep(["+sweep=smoke", "engine.cpu_threads=3"])
    assert worker_env(root, "cpu", "/c")["OMP_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in worker_env(root, "cuda", "/c")  # a GPU engine: Ray's
