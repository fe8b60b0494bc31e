"""Turn chat messages into the exact prompt text and token ids a model will see."""

from __future__ import annotations

from typing import Any

from orchestrator.config.groups import ModelConfig
from orchestrator.errors import UserError
from orchestrator.studies import Message


class ChatRenderer:
    """A model's tokenizer and chat template, loaded once per model in the driver.

    Rendering in the driver (not the workers) lets every prompt be counted against the
    context window before any job starts, and gives each row its exact rendered prompt.
    """

    def __init__(self, cfg: ModelConfig, path: str) -> None:
        from transformers import AutoTokenizer

        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path, revision=cfg.revision)
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
        # Cells that differ only in seed or tier-free settings render the same messages: each
        # distinct prompt is tokenized once, and its rows share one list of token ids.
        self._rendered: dict[tuple[tuple[str, str], ...], tuple[str, list[int]]] = {}

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
        # The template already wrote any BOS token: adding special tokens would double it.
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return text, ids
