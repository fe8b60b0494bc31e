"""Every request of a grid checked against its model's context window before any job
starts, without rendering and tokenizing each one (a million requests would take the
driver a quarter of an hour; jobs are rendered lazily, just ahead of dispatch).

A cell's requests differ only in their dataset item. A study whose messages insert the
item's text and use nothing else of it (`Study.inserts_item_text`) has each cell's messages
rendered once with a marker where the text goes: the cell's *frame*. A request's length is
then bounded from the frame and the item's size:

- a model served here: the exact tokens of the frame's text before the last control token
  that precedes the item (a tokenizer splits control tokens out before anything else, so
  that part tokenizes alone as in the whole), plus at most one token per UTF-8 byte of the
  rest (every token, control tokens included, stands for at least one byte of text) and one
  that a tokenizer may add in front (SentencePiece's leading space);
- a hosted model: its estimate from characters (`chat.MessageRenderer.count`), exactly.

Where the bound does not fit, the request is rendered and tokenized exactly, and refused in
one line if it does not fit. So is every request of a cell whose frame is not trusted (a
study that does not declare it inserts the text, or a frame that does not reproduce the
messages of the cell's first and longest items) and every item holding a control token's
text (its tokens are counted another way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.chat import MESSAGE_OVERHEAD, ChatRenderer, MessageRenderer, Renderer
from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Prompt
from orchestrator.errors import UserError
from orchestrator.studies import Message, get_study

if TYPE_CHECKING:
    from orchestrator.grid import Cell

MARK = "\u0000item\u0000"

# Requests of a cell that mode=dry renders and tokenizes for its token estimate (all of
# them when the cell has no more).
SAMPLED = 64


def too_long(cell: Cell, prompt_id: str, tokens: int, renderer: Renderer) -> UserError:
    cfg = cell.config
    about = "about " if renderer.estimated else ""
    how = " (estimated from characters)" if renderer.estimated else ""
    return UserError(
        f"cell {cell.id} {cell.axes}: prompt '{prompt_id}' has {about}{tokens} tokens{how} + "
        f"sampling.max_tokens={cfg.sampling.max_tokens} > max_model_len={window(cell)}: "
        "lower sampling.max_tokens or raise model.max_model_len"
    )


def window(cell: Cell) -> int:
    return max_model_len(cell.config)


def max_model_len(cfg: RootConfig) -> int:
    return cfg.engine.max_model_len or cfg.model.max_model_len


def exact_tokens(cell: Cell, prompt: Prompt, renderer: Renderer) -> int:
    """The request's prompt tokens, rendered and counted as its job will be."""
    messages = get_study(cell.config.study.name).messages(cell.config, prompt)
    _, ids = renderer.render(messages)
    return renderer.count(messages, ids)


@dataclass(frozen=True)
class Frame:
    """A cell's messages with the item's text cut out, and what its length bound needs."""

    messages: list[Message]  # MARK where the item's text goes
    uses: int  # how often the text is inserted
    fixed: int  # tokens (hosted: characters) of the frame that the item does not change
    per_unit: int  # bound per unit of the item: 1 token a byte, hosted: characters

    def fill(self, text: str) -> list[Message]:
        return [{**m, "content": m["content"].replace(MARK, text)} for m in self.messages]

    def size(self, text: str) -> int:
        """The item's units: UTF-8 bytes, or characters for a hosted model."""
        return len(text.encode()) if self.per_unit else len(text)


def frame_for(cell: Cell, renderer: Renderer) -> Frame | None:
    """The cell's frame, or None where its requests must be counted one by one."""
    study = get_study(cell.config.study.name)
    if not getattr(study, "inserts_item_text", False):
        return None
    messages = study.messages(cell.config, Prompt(id="", text=MARK))
    uses = sum(m["content"].count(MARK) for m in messages)
    if isinstance(renderer, MessageRenderer):
        chars = sum(len(m["content"]) for m in messages) - uses * len(MARK)
        return Frame(messages, uses, chars, 0)
    if not isinstance(renderer, ChatRenderer):
        return None
    if any(s in m["content"] for m in messages for s in renderer.specials):
        return None  # contents tokenized as text, not as the template's text
    text = renderer.template(messages)
    first = text.find(MARK)
    if first < 0:
        return Frame(messages, 0, len(renderer.tokens(text)), 1)
    cut = max((text.rfind(s, 0, first) for s in renderer.specials), default=-1)
    head = text[: max(cut, 0)]
    rest = len(text[len(head) :].encode()) - text.count(MARK) * len(MARK.encode())
    return Frame(messages, text.count(MARK), len(renderer.tokens(head)) + rest + 1, 1)


def bound(frame: Frame, renderer: Renderer, text: str) -> int:
    """At most the request's prompt tokens (exactly them for a hosted model)."""
    size = frame.fixed + frame.uses * frame.size(text)
    if isinstance(renderer, MessageRenderer):
        return math.ceil(size / renderer.chars_per_token) + MESSAGE_OVERHEAD * len(frame.messages)
    return size


def check_cell(cell: Cell, prompts: Iterable[Prompt], renderer: Renderer) -> int:
    """Refuse the first of the cell's requests that does not fit its context window, in one
    line; returns how many were rendered and tokenized to tell."""
    budget = window(cell) - cell.config.sampling.max_tokens
    items = list(prompts)
    frame = frame_for(cell, renderer) if items else None
    if frame is not None and not _trusted(frame, cell, items, renderer):
        frame = None
    specials = _specials(renderer)
    counted = 0
    for prompt in items:
        if (
            frame is not None
            and not (specials and specials.search(prompt.text))
            and bound(frame, renderer, prompt.text) <= budget
        ):
            continue
        counted += 1
        tokens = exact_tokens(cell, prompt, renderer)
        if tokens > budget:
            raise too_long(cell, prompt.id, tokens, renderer)
    return counted


def _trusted(frame: Frame, cell: Cell, items: list[Prompt], renderer: Renderer) -> bool:
    """The frame reproduces the messages of the cell's first and longest items, and bounds
    their tokens."""
    study = get_study(cell.config.study.name)
    longest = max(items, key=lambda p: len(p.text))
    for prompt in {id(items[0]): items[0], id(longest): longest}.values():
        if study.messages(cell.config, prompt) != frame.fill(prompt.text):
            return False
        if exact_tokens(cell, prompt, renderer) > bound(frame, renderer, prompt.text):
            return False
    return True


def _specials(renderer: Renderer) -> re.Pattern[str] | None:
    """Matches a control token's text (an item holding one is tokenized another way)."""
    if not isinstance(renderer, ChatRenderer) or not renderer.specials:
        return None
    return re.compile("|".join(map(re.escape, sorted(renderer.specials, key=len, reverse=True))))


def estimate(cell: Cell, prompts: list[Prompt], renderer: Renderer) -> tuple[int, bool]:
    """The prompt tokens of these requests, and whether they were estimated from a sample
    (mode=dry on a big cell: the SAMPLED requests spread evenly over it)."""
    if len(prompts) <= SAMPLED:
        return sum(exact_tokens(cell, p, renderer) for p in prompts), False
    step = len(prompts) / SAMPLED
    sample = [prompts[int(i * step)] for i in range(SAMPLED)]
    tokens = sum(exact_tokens(cell, p, renderer) for p in sample)
    return round(tokens * len(prompts) / SAMPLED), True
