"""A hosted model's config: what enters its cell ids (its served name, never the endpoint's
URL or key), which key travels to the engine, and what is refused before launch."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.run import load_sweep
from orchestrator.workers import hosted_secrets

OPENAI = ["model=openai-compatible", "model.path=m", "model.base_url=http://127.0.0.1:1/v1"]


def ids(*overrides: str) -> list[str]:
    _, _, cells = load_sweep(["+sweep=af_grid", *overrides])
    return [c.id for c in cells]


def test_the_served_name_enters_the_cell_id_and_the_url_and_limits_do_not() -> None:
    base = ids(*OPENAI)
    assert ids(*OPENAI, "model.base_url=https://gateway.example/v1") == base
    assert ids(*OPENAI, "model.api_key_env=SOME_KEY", "model.api.concurrency=64") == base
    assert ids(*OPENAI, "model.api.price_input=3", "model.api.tokens_per_minute=1000") == base
    assert ids(*OPENAI, "model.path=other") != base
    assert ids("model=anthropic", "model.path=m") != base  # another API, another model


def test_the_key_travels_by_its_variable_s_name() -> None:
    _, root, _ = load_sweep(["+sweep=af_grid", *OPENAI, "model.api_key_env=GATEWAY_KEY"])
    assert hosted_secrets(root) == ("GATEWAY_KEY",)
    _, root, _ = load_sweep(["+sweep=af_grid", "model=anthropic", "model.path=m"])
    assert hosted_secrets(root) == ("ANTHROPIC_API_KEY",)
    _, root, _ = load_sweep(["+sweep=af_grid"])
    assert hosted_secrets(root) == ()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model=openai-compatible", "model.path=m"],
            "model 'openai-compatible' (source openai) needs its endpoint: set "
            "model.base_url=http://host:port/v1",
        ),
        (
            [*OPENAI, "sampling.stop=['<rejected/>']"],
            "whose API drops the stop string from the reply (the parser reads it): leave "
            "sampling.stop empty",
        ),
        (
            [*OPENAI, "model.adapter=/some/adapter"],
            "is hosted (source openai): it cannot serve a local adapter; unset model.adapter",
        ),
        ([*OPENAI, "model.api.concurrency=0"], "model.api.concurrency must be >= 1"),
    ],
    ids=["no endpoint", "stop strings", "a local adapter", "no concurrency"],
)
def test_what_a_hosted_model_cannot_take_is_one_line(
    overrides: list[str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(UserError) as error:
        load_sweep(["+sweep=af_grid", f"output_root={tmp_path}", *overrides])
    assert message in str(error.value) and "\n" not in str(error.value)
