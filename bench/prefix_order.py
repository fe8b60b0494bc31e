"""Prefix-aware ordering vs shuffled order, on alignment-faking prompts (four variants'
long system prompts, free and paid tiers) with vLLM's prefix caching on: the same sweep
twice, once with the orchestrator's order (plan.prefix_order: shards sharing a system
prompt back to back) and once with the shards shuffled, so the engine's in-flight window
mixes system prompts. Throughput counts prompt + generated tokens over the generation span.

    .venv/bin/python -m bench.prefix_order [--json out.json]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import pyarrow.compute as pc

import orchestrator.plan as plan_module
import orchestrator.run as run_module
from analysis.summary import read_results
from bench.common import Result, emit
from orchestrator.plan import Prepared, Shard

OVERRIDES = [
    "+sweep=af_grid",
    "judges=none",
    "tracker=none",
    "grid.prompt_variant=[af_cot,af_no_cot,af_no_examples,af_tier_title]",
    "sampling.max_tokens=16",
    "shard_size=4",
]


def shuffled(shards: list[Shard], prepared: Prepared) -> list[Shard]:
    order = list(shards)
    random.Random(0).shuffle(order)
    return order


def throughput(output_root: Path) -> tuple[float, int]:
    report = run_module.run([*OVERRIDES, f"output_root={output_root}"])
    rows = read_results(
        report.results, ["prompt_tokens", "completion_tokens", "started_at", "finished_at"]
    )
    span = (
        pc.max(rows["finished_at"]).as_py() - pc.min(rows["started_at"]).as_py()
    ).total_seconds()
    tokens = int(pc.sum(rows["prompt_tokens"]).as_py()) + int(
        pc.sum(rows["completion_tokens"]).as_py()
    )
    return tokens / span, rows.num_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        ordered, rows = throughput(Path(folder) / "ordered")
        plan_module.prefix_order = shuffled  # type: ignore[assignment]
        mixed, _ = throughput(Path(folder) / "shuffled")
    print(f"{'order':<28}{'tok/s (prompt + generated)':>28}")
    print(f"{'prefix-aware (default)':<28}{ordered:>28.0f}")
    print(f"{'shuffled':<28}{mixed:>28.0f}")
    emit(
        Result(
            "prefix-aware ordering vs shuffled",
            "prefix-aware",
            ordered,
            "shuffled",
            mixed,
            "tok/s",
            ordered / mixed,
            note=f"{rows} AF requests (4 variants x 2 tiers x 25), max_tokens 16, shard_size 4, "
            "prefix caching on, SmolLM2-135M on CPU",
        ),
        args.json,
    )
    return 0


# vLLM's engine process re-imports the main module: without the guard it dies at start.
if __name__ == "__main__":
    sys.exit(main())
