"""Engine reuse vs one process per cell, on a 12-cell grid: the smoke sweep with three
seeds (2 variants x 2 audiences x 3 seeds, 12 prompts each, SmolLM2 on CPU).

- mosweep: one `python -m orchestrator` for the whole grid: one Ray start, one engine load,
  every cell's shards batched through it.
- one process per cell: what Hydra's multirun launchers (basic, joblib, submitit) do: 12
  `python -m orchestrator` commands, each restricted to one cell by its overrides, so each
  starts Ray and loads the model for 12 prompts.

    .venv/bin/python -m bench.engine_reuse [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, emit

VARIANTS = ["plain", "concise"]
AUDIENCES = ["a curious child", "a domain expert"]
SEEDS = [0, 1, 2]


def orchestrator(output_root: Path, *overrides: str) -> float:
    command = [
        sys.executable,
        "-m",
        "orchestrator",
        "+sweep=smoke",
        f"output_root={output_root}",
        "tracker=none",
        *overrides,
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    seeds = f"grid.seed=[{','.join(map(str, SEEDS))}]"
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        reuse = orchestrator(Path(folder) / "reuse", seeds)
        per_cell = 0.0
        for variant, audience, seed in itertools.product(VARIANTS, AUDIENCES, SEEDS):
            per_cell += orchestrator(
                Path(folder) / "per-cell",
                f"grid.prompt_variant=[{variant}]",
                f"grid.study.vars.audience=[{audience}]",
                f"grid.seed=[{seed}]",
            )
        rows = [len(list((Path(folder) / n).rglob("*.parquet"))) for n in ("reuse", "per-cell")]
    assert rows[0] == rows[1] == 24, rows  # the same 12 cells x 2 shards both ways
    ratio = per_cell / reuse
    print(f"{'way':<28}{'wall s':>10}")
    print(f"{'one run, engine reused':<28}{reuse:>10.1f}")
    print(f"{'one process per cell (12)':<28}{per_cell:>10.1f}")
    emit(
        Result(
            "engine reuse vs one process per cell (12 cells)",
            "one run",
            reuse,
            "12 processes",
            per_cell,
            "s wall",
            ratio,
            target=">= 5x faster",
            met=ratio >= 5,
            note="smoke sweep x 3 seeds, 144 requests, SmolLM2-135M on CPU; ratio = time per "
            "cell process summed / time of one run",
        ),
        args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
