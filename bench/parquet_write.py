"""Parquet write throughput of the result writer (one zstd Parquet file per shard, written
to a temporary name and renamed) against appending the same rows as JSON lines (what
notebook loops do), on rows shaped like alignment-faking rows (a 2,500-character rendered
prompt, a 1,200-character completion).

    .venv/bin/python -m bench.parquet_write [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from bench.common import Result, emit
from jobs.rows import results_schema
from orchestrator.store import ResultStore
from orchestrator.studies.alignment_faking.columns import COLUMNS

SHARDS, SHARD_ROWS = 200, 64


def rows(shard: int) -> pa.Table:
    now = datetime.now(timezone.utc)
    base = {
        "sweep": "bench",
        "study": "alignment_faking",
        "stage": "generate",
        "cell_id": f"{shard % 16:012x}",
        "model": "smollm2-135m",
        "model_path": "/cache/models/smollm2",
        "prompt_variant": "af_cot",
        "tier": "free",
        "axes": json.dumps({"prompt_variant": "af_cot", "seed": 0, "study.vars.tier": "free"}),
        "dataset": "af_requests",
        "dataset_hash": "0123456789abcdef",
        "seed": 0,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 512,
        "finish_reason": "stop",
        "engine": "vllm 0.32.0",
        "started_at": now,
        "finished_at": now,
    }
    out = []
    for i in range(SHARD_ROWS):
        out.append(
            {
                **base,
                "shard_id": f"{shard:012x}_000000-000064",
                "prompt_id": f"af{i:03d}",
                "prompt_hash": f"{i:016x}",
                "sample_idx": 0,
                "request_seed": shard * 1000 + i,
                "rendered_prompt": f"system prompt {i} " * 160,
                "completion": f"<SCRATCHPAD_REASONING>reasoning {shard} {i} " * 40,
                "prompt_tokens": 600,
                "completion_tokens": 300,
                "latency_s": 1.5,
            }
        )
    return pa.Table.from_pylist(out, schema=results_schema(COLUMNS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    tables = [rows(s) for s in range(SHARDS)]
    total = SHARDS * SHARD_ROWS
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        store = ResultStore(Path(folder) / "sweep")
        started = time.perf_counter()
        for s, table in enumerate(tables):
            store.write_shard("smollm2-135m", f"{s:012x}", 0, SHARD_ROWS, table)
        ours = total / (time.perf_counter() - started)
        size = sum(p.stat().st_size for p in store.results.rglob("*.parquet"))
        started = time.perf_counter()
        with (Path(folder) / "rows.jsonl").open("w") as f:
            for table in tables:
                for row in table.to_pylist():
                    f.write(json.dumps(row, default=str) + "\n")
        jsonl = total / (time.perf_counter() - started)
        jsonl_size = (Path(folder) / "rows.jsonl").stat().st_size
    print(f"{'writer':<36}{'rows/s':>12}{'MB on disk':>12}")
    print(f"{'result writer (Parquet, zstd)':<36}{ours:>12,.0f}{size / 1e6:>12.1f}")
    print(f"{'JSON lines':<36}{jsonl:>12,.0f}{jsonl_size / 1e6:>12.1f}")
    emit(
        Result(
            "Parquet write throughput",
            "result writer",
            ours,
            "JSON lines",
            jsonl,
            "rows/s",
            ours / jsonl,
            note=f"{SHARDS} shards x {SHARD_ROWS} AF-sized rows; {size / 1e6:.1f} MB as Parquet vs "
            f"{jsonl_size / 1e6:.1f} MB as JSON lines",
        ),
        args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
