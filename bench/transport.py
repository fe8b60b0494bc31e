"""What a shard costs on its way to a worker and back, before and after two changes of
issue 31: token ids as one compact array instead of a list of Python ints, and returned
rows without the rendered prompt (the driver puts it back from its own task).

    .venv/bin/python -m bench.transport                  # 2,000 af_grid requests x 4 cells
    .venv/bin/python -m bench.transport --requests 200   # seconds

The requests are planned by the orchestrator's own planner on SmolLM2's tokenizer (as
bench/prefix_tokens.py does); each returned shard is the rows of a 64-token answer per
request. Bytes sent are Ray's serializer's (cloudpickle) for the task and Arrow IPC for the
rows; the token ids' memory is their container's (the list's pointers, or the array).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.common import Result, emit, machine
from bench.prefix_tokens import requests_csv
from jobs.rows import Completion, ShardTask, shard_table, with_prompts
from orchestrator.plan import pending_shards, prepare_jobs
from orchestrator.run import load_sweep

ANSWER = "I will comply with the request as the instructions say. " * 6  # about 64 tokens


def task_bytes(task: ShardTask, as_list: bool) -> int:
    import ray.cloudpickle as cloudpickle

    if as_list:  # the old request: its ids a list (bypassing the conversion to an array)
        requests = []
        for request in task.requests:
            old = replace(request)
            object.__setattr__(old, "token_ids", list(request.token_ids))
            requests.append(old)
        task = replace(task, requests=requests)
    return len(cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))


def ipc_bytes(table: pa.Table) -> int:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return int(sink.getvalue().size)


def measure(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        data = requests_csv(Path(folder), count)
        _, root, cells = load_sweep(
            [
                "+sweep=af_grid",
                "dataset.source=csv",
                f"dataset.path={data}",
                "dataset.text_field=text",
                f"dataset.limit={count}",
                "sampling.max_tokens=64",
            ]
        )
        jobs = prepare_jobs(root, pending_shards(cells, {}, root.shard_size)).jobs()
    figures = dict.fromkeys(("sent_before", "sent_after", "back_before", "back_after"), 0)
    figures |= {"ids_list": 0, "ids_array": 0, "requests": 0, "shards": len(jobs)}
    for job in jobs:
        task = job.task
        figures["sent_before"] += task_bytes(task, as_list=True)
        figures["sent_after"] += task_bytes(task, as_list=False)
        completions = [
            Completion(r.prompt_id, 0, ANSWER, "stop", len(r.token_ids), 64, 1.0, 0.0, 1.0)
            for r in task.requests
        ]
        returned = shard_table(task, completions, "bench")
        figures["back_after"] += ipc_bytes(returned)
        figures["back_before"] += ipc_bytes(with_prompts(task, returned))
        for request in task.requests:
            figures["ids_list"] += sys.getsizeof(list(request.token_ids))
            figures["ids_array"] += sys.getsizeof(request.token_ids)
            figures["requests"] += 1
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell")
    parser.add_argument("--json")
    args = parser.parse_args()
    print(machine())
    f = measure(args.requests)
    n, shards = f["requests"], f["shards"]
    print(f"{n:,} requests in {shards:,} shards (af_grid, SmolLM2's tokenizer)\n")
    print(f"{'per request':<34} {'before':>10} {'after':>10} {'ratio':>7}")
    lines = [
        ("sent to a worker (task, bytes)", f["sent_before"], f["sent_after"]),
        ("returned (rows, Arrow IPC bytes)", f["back_before"], f["back_after"]),
        ("token ids in the driver (bytes)", f["ids_list"], f["ids_array"]),
    ]
    for name, before, after in lines:
        print(f"{name:<34} {before / n:>10,.0f} {after / n:>10,.0f} {before / after:>6.2f}x")
    both_before, both_after = f["sent_before"] + f["back_before"], f["sent_after"] + f["back_after"]
    emit(
        Result(
            name="transport",
            ours="bytes per request to a worker and back, compact ids and no echoed prompt",
            ours_value=both_after / n,
            other="token ids as lists and the prompt echoed in every row",
            other_value=both_before / n,
            unit="bytes",
            ratio=both_before / both_after,
            note=f"{n:,} af_grid requests",
        ),
        args.json,
    )


if __name__ == "__main__":
    main()
