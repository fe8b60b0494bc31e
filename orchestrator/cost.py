"""Tokens and dollars of hosted models: the estimate a dry run prints before any request, and
what a run spent, from the rows (the API's own token counts).

A hosted API bills the prompt of every sample (a local engine computes it once), so the
estimate counts prompt tokens x samples; generated tokens are at most max_tokens per sample.
Prices are per million tokens, from `model.api.price_input` / `price_output`.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.groups import ModelConfig
from orchestrator.grid import Cell


@dataclass
class Tokens:
    prompt: int = 0
    generated: int = 0

    def dollars(self, model: ModelConfig) -> float | None:
        return self.priced(model.api.price_input, model.api.price_output)

    def priced(self, price_in: float | None, price_out: float | None) -> float | None:
        """US dollars at these prices per million tokens (None when a price is not set)."""
        if price_in is None or price_out is None:
            return None
        return (self.prompt * price_in + self.generated * price_out) / 1e6


def estimate(cells: list[tuple[Cell, int, int]]) -> dict[str, tuple[ModelConfig, Tokens]]:
    """Per hosted model: prompt tokens (estimated from characters) and at most the tokens
    the grid can generate. `cells`: (cell, its requests to run, their prompt tokens)."""
    out: dict[str, tuple[ModelConfig, Tokens]] = {}
    for cell, requests, prompt_tokens in cells:
        cfg = cell.config
        if not cfg.model.hosted:
            continue
        _, tokens = out.setdefault(cfg.model.name, (cfg.model, Tokens()))
        n = cfg.sampling.n
        tokens.prompt += n * prompt_tokens
        tokens.generated += n * requests * cfg.sampling.max_tokens
    return out


def estimate_lines(cells: list[tuple[Cell, int, int]]) -> list[str]:
    """One line per hosted model: what the grid left to run will cost at most."""
    lines = []
    for name, (model, tokens) in estimate(cells).items():
        dollars = tokens.dollars(model)
        price = (
            f"at most ${dollars:,.2f}"
            if dollars is not None
            else "no price set (model.api.price_input, price_output)"
        )
        lines.append(
            f"cost {name}: about {tokens.prompt:,} prompt tokens (estimated from characters) "
            f"+ at most {tokens.generated:,} generated: {price}"
        )
    return lines


def record(
    spent: dict[str, tuple[ModelConfig, Tokens]], model: ModelConfig, prompt: int, generated: int
) -> None:
    """Add a written shard's tokens (the API's counts) to what this run spent."""
    if model.hosted:
        _, tokens = spent.setdefault(model.name, (model, Tokens()))
        tokens.prompt += prompt
        tokens.generated += generated


def spent_lines(spent: dict[str, tuple[ModelConfig, Tokens]]) -> list[str]:
    """One line per hosted model: the tokens of the rows this run wrote, and their price
    (answers taken from the response cache count too: they were paid once, earlier)."""
    return [
        f"spent {name}: {used(tokens, tokens.dollars(m))}" for name, (m, tokens) in spent.items()
    ]


def used(tokens: Tokens, dollars: float | None) -> str:
    """`N prompt + M generated tokens[: $X]`, the spent lines' one wording (models, judges)."""
    price = f": ${dollars:,.2f}" if dollars is not None else ""
    return f"{tokens.prompt:,} prompt + {tokens.generated:,} generated tokens{price}"


def spent_metrics(spent: dict[str, tuple[ModelConfig, Tokens]]) -> dict[str, float]:
    """What this run spent so far, as W&B metrics (cost/<model>/...)."""
    out: dict[str, float] = {}
    for name, (model, tokens) in spent.items():
        out[f"cost/{name}/prompt_tokens"] = tokens.prompt
        out[f"cost/{name}/generated_tokens"] = tokens.generated
        dollars = tokens.dollars(model)
        if dollars is not None:
            out[f"cost/{name}/usd"] = dollars
    return out
