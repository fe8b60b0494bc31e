"""Jinja2 templates for prompts and judges: inline text or files under conf/templates/.

Template files can `{% include %}` each other, so a system prompt is built from one file per
component and an ablation switches a component with a variable, not an `if` in code.
StrictUndefined: a typo in a variable name is an error, never a silently empty string.
Templates render in Jinja2's immutable sandbox: a researcher's own template file (or one
from a shared config) is text to fill, and must not reach Python objects or run code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from orchestrator.config.where import TEMPLATE_DIR
from orchestrator.errors import UserError, did_you_mean

_ENV = ImmutableSandboxedEnvironment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,  # a line holding only a {% tag %} leaves no blank line behind
    autoescape=False,  # prompts are plain text, not HTML
)


@lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def read_template(path: str, where: str) -> str:
    """A template file's text: relative paths are under conf/templates/, absolute ones as is."""
    file = Path(path).expanduser()
    file = file if file.is_absolute() else TEMPLATE_DIR / file
    if not file.is_file():
        known = [str(p.relative_to(TEMPLATE_DIR)) for p in TEMPLATE_DIR.rglob("*.j2")]
        raise UserError(f"{where}: no template file {file}{did_you_mean(path, known)}")
    return file.read_text()


def render(source: str, variables: dict[str, Any], where: str) -> str:
    """Fill a template, turning every Jinja2 error into one line that names the fix."""
    try:
        return _compile(source).render(**variables)
    except jinja2.UndefinedError as e:
        raise UserError(
            f"{where} uses an undefined variable ({e.message}): set it with study.vars.NAME=..., "
            "prompt_variant.vars.NAME=... or a grid axis"
        ) from None
    except jinja2.TemplateNotFound as e:
        raise UserError(
            f"{where} includes '{e.name}', which is not under {TEMPLATE_DIR}: check the "
            "variable that names it"
        ) from None
    except jinja2.TemplateSyntaxError as e:
        raise UserError(f"{where} is not a valid Jinja2 template: {e.message}") from None
    except SecurityError as e:
        raise UserError(
            f"{where} reaches outside its variables ({e}): templates may only fill in text"
        ) from None
