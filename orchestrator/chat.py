"""Turn chat messages into the exact prompt a model will see: text and token ids for a model
served here, the messages themselves for a hosted API."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
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


# Rendered prompts a ChatRenderer keeps for reuse: several shards' worth.
KEPT_PROMPTS = 2048

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
    context window before any job starts (orchestrator/budget.py, mostly from one rendering
    per cell), and gives each row its exact rendered prompt.
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
        # Cells that differ only in seed or tier-free settings render the same messages, and
        # their shards are prepared one after another (plan.prefix_order): the prompts
        # rendered last are kept, so each is tokenized once and its rows share one list of
        # token ids, in memory bounded however big the grid.
        self._rendered: OrderedDict[tuple[tuple[str, str], ...], tuple[str, list[int]]] = (
            OrderedDict()
        )
        # The turns before the last, rendered and tokenized once (see _ids).
        self._prefixes: dict[tuple[tuple[str, str], ...], tuple[str, list[int], bool] | None] = {}
        self.reuse_prefixes = True

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
        key = _key(messages)
        if key in self._rendered:
            self._rendered.move_to_end(key)
            return self._rendered[key]
        self._rendered[key] = rendered = self._render(messages)
        if len(self._rendered) > KEPT_PROMPTS:
            self._rendered.popitem(last=False)
        return rendered

    def turns(self, messages: list[Message]) -> list[Message]:
        """The turns the template gets: the system turn folded into the first user turn
        where the template has no system role."""
        if self.system_role or not messages or messages[0]["role"] != "system":
            return messages
        system, first, *rest = messages
        return [
            {"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"},
            *rest,
        ]

    def template(self, messages: list[Message]) -> str:
        """The prompt's text: the chat template applied, ready for the model's answer."""
        text: str = self.tokenizer.apply_chat_template(
            self.turns(messages), tokenize=False, add_generation_prompt=True
        )
        return text

    def tokens(self, text: str) -> list[int]:
        """Token ids of text the template wrote (it wrote any BOS token already)."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def _render(self, messages: list[Message]) -> tuple[str, list[int]]:
        turns = self.turns(messages)
        text = self.template(messages)
        contents = [t["content"] for t in turns]
        if not any(s in c for c in contents for s in self.specials):
            return text, self._ids(text, turns)
        return text, self._ids_with_content_as_text(text, contents)

    def _ids(self, text: str, turns: list[Message]) -> list[int]:
        """Token ids of a rendered prompt. The turns before the last (a cell's system prompt
        and examples: most of an alignment-faking prompt's tokens, the same for every request
        of the cell) are tokenized once and reused: the prompt is cut where the last turn's
        first control token starts, and a tokenizer splits control tokens out before anything
        else, so the two parts tokenize as the whole does. Each prefix is checked once against
        the whole prompt's ids; a tokenizer where they differ never reuses one."""
        # The template already wrote any BOS token: adding special tokens would double it.
        tokenize = self.tokenizer
        prefix = self._prefix(turns) if self.reuse_prefixes else None
        if prefix is None or not text.startswith(prefix[0]):
            ids: list[int] = tokenize(text, add_special_tokens=False)["input_ids"]
            return ids
        head, head_ids, checked = prefix
        tail = text[len(head) :]
        if not any(tail.startswith(s) for s in self.specials):
            return list(tokenize(text, add_special_tokens=False)["input_ids"])
        ids = head_ids + tokenize(tail, add_special_tokens=False)["input_ids"]
        if not checked:  # the first prompt of this prefix: the whole must agree
            whole: list[int] = tokenize(text, add_special_tokens=False)["input_ids"]
            self._prefixes[_key(turns[:-1])] = (head, head_ids, True)
            if whole != ids:
                self.reuse_prefixes = False
                return whole
        return ids

    def _prefix(self, turns: list[Message]) -> tuple[str, list[int], bool] | None:
        """(text, token ids, checked) of the turns before the last; None for a prompt of one
        turn, or a template that cannot render them alone."""
        if len(turns) < 2:
            return None
        key = _key(turns[:-1])
        if key not in self._prefixes:
            try:
                head: str = self.tokenizer.apply_chat_template(turns[:-1], tokenize=False)
            except Exception:  # e.g. a template that wants a user turn last
                self._prefixes[key] = None
                return None
            ids = self.tokenizer(head, add_special_tokens=False)["input_ids"]
            self._prefixes[key] = (head, ids, False)
        return self._prefixes[key]

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


def _key(messages: list[Message]) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], m["content"]) for m in messages)
