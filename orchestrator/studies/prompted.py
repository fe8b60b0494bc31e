"""The generic prompted study: a system and a user Jinja2 template filled with study vars."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.errors import UserError
from orchestrator.studies import Message, register

# StrictUndefined: a typo in a template variable is an error, not a silently empty string.
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _template(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def render(source: str, variables: dict[str, Any], where: str) -> str:
    try:
        return _template(source).render(**variables)
    except jinja2.UndefinedError as e:
        raise UserError(
            f"{where} uses an undefined variable ({e.message}): set it with study.vars.NAME=... "
            "or a grid axis study.vars.NAME"
        ) from None
    except jinja2.TemplateSyntaxError as e:
        raise UserError(f"{where} is not a valid Jinja2 template: {e.message}") from None


class PromptedStudy:
    name = "prompted"

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        variant = cfg.prompt_variant
        return {
            "variant": [variant.name, variant.version, variant.system, variant.user],
            "vars": cfg.study.vars,
        }

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        variant = cfg.prompt_variant
        where = f"prompt_variant '{variant.name}'"
        variables = dict(cfg.study.vars)
        turns: list[Message] = []
        if variant.system:
            turns.append({"role": "system", "content": render(variant.system, variables, where)})
        user = render(variant.user, {**variables, "prompt": prompt.text}, where)
        turns.append({"role": "user", "content": user})
        return turns

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        variables = cfg.study.vars
        return {
            "prompt_variant": cfg.prompt_variant.name,
            "tier": _optional_str(variables.get("tier")),
            "trigger": _optional_str(variables.get("trigger")),
        }


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


register(PromptedStudy())
