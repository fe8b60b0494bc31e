"""Planning and resume at scale: expand a 1,000,000-row grid (10,000 prompts x 100 seeds),
find what is done from 10% of its shard files (their names, once their bytes match the
manifest's SHA-256), and plan the rest; seconds and peak memory growth. The resume step
(files -> pending shards) is compared with resuming by reading the done rows back and
diffing (cell, prompt) keys, what a script does when it keeps results in files and filters
them.

    .venv/bin/python -m bench.plan_scale [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import Result, emit
from orchestrator import manifest
from orchestrator.plan import pending_shards
from orchestrator.run import load_sweep
from orchestrator.store import ResultStore

PROMPTS, SEEDS, SHARD = 10_000, 100, 100


def expand(overrides: list[str]) -> tuple[int, list]:  # type: ignore[type-arg]
    _, root, cells = load_sweep(overrides)
    return root.shard_size, cells


def resume(cells: list, shard_size: int, store: ResultStore) -> int:  # type: ignore[type-arg]
    """Prompts left to run, planned from the shard files' names."""
    return sum(s.size for s in pending_shards(cells, store.done_ranges(), shard_size))


def resume_by_rows(cells: list, folder: Path) -> int:  # type: ignore[type-arg]
    """Prompts left to run, planned by reading every done row's keys back."""
    table = pq.ParquetDataset(folder).read(columns=["cell_id", "prompt_id"])
    done = set(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))
    return sum(
        (cell.id, prompt.id) not in done for cell in cells for prompt in cell.dataset.prompts
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        data = Path(folder) / "prompts.jsonl"
        data.write_text(
            "".join(
                json.dumps({"id": f"p{i:05d}", "prompt": f"q {i}"}) + "\n" for i in range(PROMPTS)
            )
        )
        overrides = [
            "+sweep=tiny",
            f"output_root={folder}",
            "dataset.source=jsonl",
            f"dataset.path={data}",
            "grid.prompt_variant=[plain]",
            f"grid.seed=[{','.join(map(str, range(SEEDS)))}]",
            f"shard_size={SHARD}",
        ]
        _, _, cells = load_sweep(overrides)
        store = ResultStore(Path(folder) / "tiny")
        every = pending_shards(cells, {}, SHARD)
        done = random.Random(0).sample(every, len(every) // 10)
        partition = store.results / "model=tiny"
        for shard in done:  # written as a run writes them: listed in the manifest
            ids = [f"p{i:05d}" for i in range(shard.start, shard.end)]
            table = pa.table({"cell_id": [shard.cell.id] * len(ids), "prompt_id": ids})
            store.write_shard("tiny", shard.cell.id, shard.start, shard.end, table)
        manifest.forget_digests()  # as in a new invocation: every file is hashed again
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        shard_size, planned = expand(overrides)
        expanded = time.perf_counter()
        todo = resume(planned, shard_size, store)
        finished = time.perf_counter()
        # growth of the process's peak resident memory (kB on Linux) while planning
        peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
        started_scan = time.perf_counter()
        todo_by_rows = resume_by_rows(planned, partition)
        scan = time.perf_counter() - started_scan
    rows = len(planned) * PROMPTS
    assert rows == 1_000_000 and todo == todo_by_rows == 900_000, (rows, todo, todo_by_rows)
    total, plan_s = finished - started, finished - expanded
    print(f"{'step':<44}{'s':>8}")
    print(f"{'expand the grid (100 cells, 1M rows)':<44}{expanded - started:>8.2f}")
    print(f"{'resume-plan from file names':<44}{plan_s:>8.2f}")
    print(f"{'resume-plan by reading done rows back':<44}{scan:>8.2f}")
    print(
        f"peak memory growth, expand + plan: {peak:.0f} MiB; {len(every)} shards, {len(done)} done"
    )
    emit(
        Result(
            "plan + resume of a 1M-row grid",
            "resume-plan from file names",
            plan_s,
            "by reading done rows back",
            scan,
            "s",
            scan / plan_s,
            target="expand + plan < 5 s",
            met=total < 5,
            note=f"expand + plan {total:.2f} s; {len(planned)} cells x {PROMPTS:,} prompts, "
            f"{len(every):,} shards of {SHARD}, 10% done; peak memory growth {peak:.0f} MiB; "
            "rendering and tokenizing the 900,000 pending prompts (job preparation) is not "
            "included",
        ),
        args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
