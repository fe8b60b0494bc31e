"""A cell's shared prefix (system prompt, examples) is tokenized once and reused: every
request's token ids are exactly those of tokenizing its whole prompt, for every
alignment-faking variant on both built-in models' tokenizers."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.run import load_sweep
from orchestrator.studies import get_study

VARIANTS = "[af_cot,af_no_cot,af_no_examples,af_brief,af_decision_brief,af_tier_title]"


@pytest.mark.parametrize("model", ["smollm2-135m", "tiny"])
def test_reused_prefixes_give_the_whole_prompts_token_ids(model: str) -> None:
    _, _, cells = load_sweep(
        ["+sweep=af_grid", f"model={model}", f"grid.prompt_variant={VARIANTS}"]
    )
    path = models.prepare_model(cells[0].config.model)
    reused, whole = (
        ChatRenderer(cells[0].config.model, path),
        ChatRenderer(cells[0].config.model, path),
    )
    whole.reuse_prefixes = False
    study = get_study("alignment_faking")
    prompts = 0
    for cell in cells:
        for prompt in cell.dataset.prompts:
            messages = study.messages(cell.config, prompt)
            assert reused.render(messages) == whole.render(messages)
            prompts += 1
    assert prompts == len(cells) * 25 == 300
    # one prefix per variant (the tiers share it), each checked once against a whole prompt
    assert reused.reuse_prefixes and len(reused._prefixes) == 6
    assert all(p is not None and p[2] for p in reused._prefixes.values())


class Splitting:
    """A tokenizer whose last turn, tokenized alone, loses its first token: its parts no
    longer add up to the whole prompt (as a tokenizer that merges across a control token
    would)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, text: str, **kwargs: Any) -> dict[str, list[int]]:
        ids = list(self.inner(text, **kwargs)["input_ids"])
        return {"input_ids": ids[1:] if text.startswith("<|im_start|>user") else ids}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_tokenizer_whose_parts_differ_from_the_whole_never_reuses_a_prefix() -> None:
    _, _, cells = load_sweep(["+sweep=af_grid", "model=tiny"])
    cfg = cells[0].config
    renderer = ChatRenderer(cfg.model, models.prepare_model(cfg.model))
    renderer.tokenizer = Splitting(renderer.tokenizer)
    study = get_study("alignment_faking")
    first, second = (study.messages(cfg, p) for p in cells[0].dataset.prompts[:2])
    whole = renderer.tokenizer.inner
    for messages in (first, second):
        text, ids = renderer.render(messages)
        assert ids == whole(text, add_special_tokens=False)["input_ids"]
    assert not renderer.reuse_prefixes
