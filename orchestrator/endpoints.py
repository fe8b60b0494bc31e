"""Before the first row: every hosted model that has work left answers, knows its key and
serves its model name. One listing request per endpoint (`GET /models`); a run with nothing
left to do asks nothing. Each problem is one line that says what to change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError
from orchestrator.workers import engine_settings


def check_endpoints(configs: Iterable[RootConfig]) -> None:
    """`configs`: the cells with work left."""
    seen: set[tuple[str, str, str]] = set()
    for cfg in configs:
        model = cfg.model
        key = (model.source, str(model.base_url), model.path)
        if not model.hosted or key in seen:
            continue
        seen.add(key)
        (_check_openai if model.source == "openai" else _check_anthropic)(cfg)


def _check_anthropic(cfg: RootConfig) -> None:
    import anthropic

    from jobs.engines.anthropic_chat import DEFAULT_KEY_ENV, client

    model = cfg.model
    where = f"model '{model.name}' (anthropic)"
    key = f"${model.api_key_env or DEFAULT_KEY_ENV}"
    settings = engine_settings(cfg, "api", model.path)
    try:
        client(_once(settings)).models.retrieve(model.path)
    except anthropic.APIConnectionError as e:
        raise UserError(
            f"{where}: cannot reach the API at {model.base_url or 'its default URL'} "
            f"({_cause(e)}): check the network or model.base_url"
        ) from None
    except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as e:
        raise _refused(f"{where}: the API", key, e.status_code) from None
    except anthropic.NotFoundError:
        raise UserError(
            f"{where}: the API has no model '{model.path}': set model.path to a model name "
            "the API lists"
        ) from None


def _check_openai(cfg: RootConfig) -> None:
    import openai

    from jobs.engines.openai_chat import client

    model = cfg.model
    where = f"model '{model.name}' at model.base_url={model.base_url}"
    key = f"${model.api_key_env}" if model.api_key_env else "no key (model.api_key_env is null)"
    settings = engine_settings(cfg, "api", model.path)
    try:
        served = [m.id for m in client(_once(settings)).models.list()]
    except openai.APIConnectionError as e:
        raise UserError(
            f"{where}: cannot reach the endpoint ({_cause(e)}): start the server or fix "
            "model.base_url"
        ) from None
    except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
        raise _refused(f"{where}: the endpoint", key, e.status_code) from None
    except openai.NotFoundError:
        return  # a gateway without a model listing: the first request will say
    if model.path not in served:
        raise UserError(
            f"{where}: the endpoint serves no model '{model.path}' (it serves: "
            f"{', '.join(sorted(served)[:10]) or 'none'}): set model.path to one of them"
        )


def _refused(who: str, key: str, status: int) -> UserError:
    return UserError(
        f"{who} refused the key in {key} ({status}): export a valid key in that variable, "
        "or name another with model.api_key_env"
    )


def _once(settings: Any) -> Any:
    """The settings with no retries: a check that fails should say so now, not in minutes."""
    from dataclasses import replace

    return replace(settings, hosted=replace(settings.hosted, max_retries=0, timeout_s=30.0))


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__
