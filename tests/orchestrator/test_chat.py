"""Chat rendering: the system prompt goes in the system role, or into the first user turn
for templates that have none (Mistral's and Gemma's raise on a system turn)."""

from __future__ import annotations

from dataclasses import replace

from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.groups import ModelConfig

TINY = ModelConfig(name="tiny", source="tiny", path="tiny-llama-seed0", max_model_len=256)
# A template in the style of Mistral's: only user and assistant turns.
NO_SYSTEM = (
    "{% for m in messages %}{% if m['role'] == 'system' %}"
    "{{ raise_exception('no system role') }}{% endif %}"
    "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
)
TURNS = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "USER"}]


def test_system_role_is_kept_where_the_template_has_one() -> None:
    renderer = ChatRenderer(TINY, models.prepare_model(TINY))
    text, ids = renderer.render(TURNS)
    assert renderer.system_role and "SYS" in text and ids


def test_system_prompt_is_folded_into_the_first_user_turn_otherwise() -> None:
    cfg = replace(TINY, chat_template=NO_SYSTEM)
    renderer = ChatRenderer(cfg, models.prepare_model(TINY))
    text, _ = renderer.render(TURNS)
    assert not renderer.system_role
    assert text.startswith("[user] SYS\n\nUSER")


def test_each_distinct_prompt_is_tokenized_once() -> None:
    renderer = ChatRenderer(TINY, models.prepare_model(TINY))
    first = renderer.render(TURNS)
    again = renderer.render([dict(t) for t in TURNS])  # equal messages, new objects
    other = renderer.render([TURNS[0], {"role": "user", "content": "OTHER"}])
    assert again is first and other[0] != first[0] and len(renderer._rendered) == 2
