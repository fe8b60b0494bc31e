"""Preparing an alignment-faking grid's requests with each cell's shared prefix (the system
prompt and examples) tokenized once, against tokenizing every whole prompt.

    .venv/bin/python -m bench.prefix_tokens                  # 2,000 requests x 4 cells
    .venv/bin/python -m bench.prefix_tokens --requests 200   # seconds

The requests are af_grid's 30 built-in ones repeated with a numbered suffix (a CSV file in a
temporary folder); both sides run the orchestrator's own planner (`prepare_jobs`: render,
tokenize, budget check) on SmolLM2's tokenizer, and every token id must agree.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result, emit, machine
from orchestrator import chat
from orchestrator.plan import pending_shards, prepare_jobs
from orchestrator.run import load_sweep

ROOT = Path(__file__).resolve().parent.parent


def requests_csv(folder: Path, count: int) -> Path:
    lines = (ROOT / "orchestrator" / "data" / "af_requests.jsonl").read_text().splitlines()
    texts = [json.loads(line)["prompt"] for line in lines if line.strip()]
    path = folder / "requests.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        for k in range(count):
            writer.writerow([f"r{k:06d}", f"{texts[k % len(texts)]} (request {k})"])
    return path


def prepare(overrides: list[str], reuse: bool) -> tuple[float, list[list[int]]]:
    """Seconds to prepare every request of the grid, and their token ids."""
    _, root, cells = load_sweep(overrides)
    init = chat.ChatRenderer.__init__

    def renderer(self: chat.ChatRenderer, *args: Any) -> None:
        init(self, *args)
        self.reuse_prefixes = reuse

    chat.ChatRenderer.__init__ = renderer  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        jobs = prepare_jobs(root, pending_shards(cells, {}, root.shard_size)).jobs()
        seconds = time.perf_counter() - started
    finally:
        chat.ChatRenderer.__init__ = init  # type: ignore[method-assign]
    return seconds, [r.token_ids for job in jobs for r in job.task.requests]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", help="write the result here (bench/run_all.py)")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        data = requests_csv(Path(folder), args.requests)
        overrides = [
            "+sweep=af_grid",
            "dataset=af_requests",
            "dataset.source=csv",
            f"dataset.path={data}",
            "dataset.text_field=text",
            "dataset.id_field=id",
            f"dataset.limit={args.requests}",
            "shard_size=100",
        ]
        whole_s, whole = prepare(overrides, reuse=False)
        reused_s, reused = prepare(overrides, reuse=True)
    same = sum(a == b for a, b in zip(whole, reused, strict=True))
    tokens = sum(len(ids) for ids in whole)
    print(f"\n{len(whole):,} requests, {tokens:,} prompt tokens; identical token ids: {same:,}\n")
    print(f"{'path':<28}{'seconds':>9}{'requests/s':>12}")
    for name, seconds in (("whole prompts", whole_s), ("shared prefix once", reused_s)):
        print(f"{name:<28}{seconds:>9.1f}{len(whole) / seconds:>12.0f}")
    result = Result(
        "prefix tokenized once vs whole prompts",
        "shared prefix once",
        len(whole) / reused_s,
        "whole prompts",
        len(whole) / whole_s,
        "requests prepared/s",
        whole_s / reused_s,
        note=f"af_grid, {len(whole):,} requests ({args.requests:,} x 4 cells), SmolLM2's "
        f"tokenizer; identical token ids for {same:,} of {len(whole):,}",
    )
    emit(result, args.json)
    return 0 if same == len(whole) else 1


if __name__ == "__main__":
    raise SystemExit(main())
