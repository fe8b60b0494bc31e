"""Turn chat messages into the exact prompt a model will see: text and token ids for a model
served here, the messages themselves for a hosted API."""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from orchestrator.config.groups import ModelConfig
from orchestrator.errors import UserError
from orchestrator.models import commit
from orchestrator.studies import Message


class Renderer(Protocol):
    system_role: bool
    estimated: bool  # True: prompt tokens are counted from characters, not a tokenizer

    def render(self, messages: list[Message]) -> tuple[str, list[int]]: ...

    def count(self, messages: list[Message], ids: list[int]) -> int: ...


def renderer_for(cfg: ModelConfig, path: str) -> Renderer:
    """A hosted model's renderer needs no tokenizer (a closed model has none to load)."""
    return MessageRenderer(cfg) if cfg.hosted else ChatRenderer(cfg, path)


# Tokens a chat API adds per message (role markers); a rough, documented allowance.
MESSAGE_OVERHEAD = 4


class MessageRenderer:
    """A hosted model's prompt: the chat messages, sent as they are (the provider applies
    its own template, with the system prompt where its API wants it). No tokenizer is
    loaded: prompt tokens are estimated from characters (model.api.chars_per_token) for the
    context check and the cost estimate; each row records the API's own count."""

    system_role = True
    estimated = True

    def __init__(self, cfg: ModelConfig) -> None:
        self.chars_per_token = cfg.api.chars_per_token

    def render(self, messages: list[Message]) -> tuple[str, list[int]]:
        """The messages as JSON (what the row keeps as its rendered prompt); no token ids."""
        turns = [{"role": m["role"], "content": m["content"]} for m in messages]
        return json.dumps(turns, ensure_ascii=False), []

    def count(self, messages: list[Message], ids: list[int]) -> int:
        chars = sum(len(m["content"]) for m in messages)
        return math.ceil(chars / self.chars_per_token) + MESSAGE_OVERHEAD * len(messages)


class ChatRenderer:
    """A model's tokenizer and chat template, loaded once per model in the driver.

    Rendering in the driver (not the workers) lets every prompt be counted against the
    context window before any job starts, and gives each row its exact rendered prompt.
    """

    estimated = False

    def __init__(self, cfg: ModelConfig, path: str) -> None:
        from transformers import AutoTokenizer

        try:
            # a hub model's resolved commit: what its engine and training load too
            self.revision = commit(cfg) or cfg.revision
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path, revision=self.revision)
        except (OSError, ValueError) as e:
            raise UserError(
                f"model '{cfg.name}': cannot load a tokenizer from {path} "
                f"({str(e).splitlines()[0][:120]}): check model.path, or the network/HF_TOKEN"
            ) from None
        if cfg.chat_template:
            self.tokenizer.chat_template = cfg.chat_template
        if not self.tokenizer.chat_template:
            raise UserError(
                f"model '{cfg.name}' has no chat template: set model.chat_template to a Jinja2 "
                "chat template"
            )
        self.system_role = self._accepts_system_role()
        # The strings a tokenizer turns into control tokens (end of turn, role markers): in a
        # dataset item they are text, never a turn the item forges.
        decoder = getattr(self.tokenizer, "added_tokens_decoder", {})
        self.specials = {str(t) for t in self.tokenizer.all_special_tokens} | {
            str(t.content) for t in decoder.values() if getattr(t, "special", False)
        }
        self.specials.discard("")
        # Cells that differ only in seed or tier-free settings render the same messages: each
        # distinct prompt is tokenized once, and its rows share one list of token ids.
        self._rendered: dict[tuple[tuple[str, str], ...], tuple[str, list[int]]] = {}

    def count(self, messages: list[Message], ids: list[int]) -> int:
        return len(ids)

    def _accepts_system_role(self) -> bool:
        # Some templates (Mistral's, Gemma's) reject a system turn: fold it into the user turn.
        probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        try:
            self.tokenizer.apply_chat_template(probe, tokenize=False)
        except Exception:
            return False
        return True

    def render(self, messages: list[Message]) -> tuple[str, list[int]]:
        key = tuple((m["role"], m["content"]) for m in messages)
        if key not in self._rendered:
            self._rendered[key] = self._render(messages)
        return self._rendered[key]

    def _render(self, messages: list[Message]) -> tuple[str, list[int]]:
        turns = messages
        if not self.system_role and turns and turns[0]["role"] == "system":
            system, first, *rest = turns
            turns = [
                {"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"}
            ]
            turns += rest
        text: str = self.tokenizer.apply_chat_template(
            turns, tokenize=False, add_generation_prompt=True
        )
        contents = [t["content"] for t in turns]
        if not any(s in c for c in contents for s in self.specials):
            # The template already wrote any BOS token: adding special tokens would double it.
            ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            return text, ids
        return text, self._ids_with_content_as_text(text, contents)

    def _ids_with_content_as_text(self, text: str, contents: list[str]) -> list[int]:
        """Token ids of `text` where each message's content is tokenized as plain text (its
        special-token strings split into ordinary tokens) and only the template's own
        markers are control tokens."""
        tokenize = self.tokenizer
        ids: list[int] = []
        cursor = 0
        for content in contents:
            at, found = text.find(content, cursor), content
            if at < 0:  # a template that trims its contents
                at, found = text.find(content.strip(), cursor), content.strip()
            if at < 0:
                raise UserError(
                    "a prompt holds special-token text (e.g. an end-of-turn marker) that the "
                    "model's chat template rewrites, so it cannot be kept as text: remove it "
                    "from the dataset or set model.chat_template"
                )
            ids += tokenize(text[cursor:at], add_special_tokens=False)["input_ids"]
            ids += tokenize(found, add_special_tokens=False, split_special_tokens=True)["input_ids"]
            cursor = at + len(found)
        ids += tokenize(text[cursor:], add_special_tokens=False)["input_ids"]
        return ids
