"""A hosted model's cost: the dry run's estimate (no request, no tokenizer) and what a run
spent, with prices from model.api."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.config.groups import ApiConfig, ModelConfig
from orchestrator.cost import Tokens, record, spent_lines, spent_metrics
from orchestrator.run import run

HOSTED = [
    "model=openai-compatible",
    "model.path=m",
    "model.base_url=http://127.0.0.1:1/v1",  # nothing listens: any request would fail
    "model.api.price_input=2.5",
    "model.api.price_output=10",
]


def test_dry_run_estimates_the_grid_s_cost_without_a_request_or_a_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import transformers

    def no_tokenizer(*args: object, **kwargs: object) -> None:
        raise AssertionError("a hosted model's plan loaded a tokenizer")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_tokenizer)
    run(["+sweep=af_grid", f"output_root={tmp_path}", "mode=dry", *HOSTED])
    out = capsys.readouterr().out
    assert "sweep 'af_grid': 4 cells, 8 shards (8 to run), 100 requests x 1 samples" in out
    line = next(x for x in out.splitlines() if x.startswith("cost openai-compatible:"))
    prompt, generated, dollars = re.search(
        r"about ([\d,]+) prompt tokens \(estimated from characters\) \+ at most ([\d,]+) "
        r"generated: at most \$([\d,.]+)$",
        line,
    ).groups()  # type: ignore[union-attr]
    assert int(generated.replace(",", "")) == 100 * 512  # requests x max_tokens
    expected = (int(prompt.replace(",", "")) * 2.5 + 100 * 512 * 10) / 1e6
    assert float(dollars.replace(",", "")) == pytest.approx(expected, abs=0.005)
    assert not (tmp_path / "af_grid").exists()  # a dry run writes nothing


def test_what_a_run_spent_is_priced_per_hosted_model() -> None:
    priced = ModelConfig(name="gpt", source="openai", path="gpt", base_url="http://x/v1")
    priced.api = ApiConfig(price_input=3.0, price_output=15.0)
    local = ModelConfig(name="smol", source="embedded", path="smollm2-135m-instruct")
    spent: dict[str, tuple[ModelConfig, Tokens]] = {}
    record(spent, priced, 1_000_000, 200_000)
    record(spent, priced, 500_000, 0)
    record(spent, local, 10, 10)  # a local model costs nothing here
    assert spent_lines(spent) == ["spent gpt: 1,500,000 prompt + 200,000 generated tokens: $7.50"]
    assert spent_metrics(spent)["cost/gpt/usd"] == pytest.approx(7.5)
