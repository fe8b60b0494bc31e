"""The driver at scale: an alignment-faking grid of N requests (af_grid's 2 variants x 2
tiers, N/4 prompts each, ~1,230-token system prompts) on the fake engine with no judges,
so every second and byte measured is the driver's: `mode=dry` (plan, render, check every
budget) and a whole run (plus Ray, the fake engine, Parquet, the report).

    .venv/bin/python -m bench.driver_scale                     # 100,000 requests
    .venv/bin/python -m bench.driver_scale --requests 10000    # about 2 minutes

Each side is its own process (`/usr/bin/time`-style peak RSS from the kernel's rusage of
the child); first dispatch is the first `dispatch` event in events.jsonl, counted from the
process start; the dispatch rate is requests dispatched per second between the first and
the last dispatch.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, emit, machine
from bench.prefix_tokens import requests_csv

CELLS = 4  # af_grid: af_cot and af_no_cot x free and paid


def sweep(data: Path, output: Path, prompts: int, mode: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        "+sweep=af_grid",
        "dataset.source=csv",
        f"dataset.path={data}",
        "dataset.text_field=text",
        f"dataset.limit={prompts}",
        "judges=none",
        "engine=fake",
        "sampling.max_tokens=64",
        "shard_size=50",
        "tracker=none",
        f"output_root={output}",
        f"mode={mode}",
    ]


# Runs a command and prints the peak RSS (KiB) of the largest process it waited for: the
# driver (Ray's processes are not its children to wait for).
PEAK = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(done.returncode)"
)


def run_side(command: list[str]) -> dict[str, float]:
    """Wall seconds and the driver's peak RSS (GiB) of one invocation."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *command], cwd=ROOT, capture_output=True, text=True
    )
    wall = time.time() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:])} failed:\n{done.stdout[-2000:]}{done.stderr}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return {"started": started, "wall": wall, "rss_gib": peak_kib / 2**20}


def dispatches(events: Path) -> list[float]:
    times = []
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "dispatch":
            times.append(float(event["t"]))
    return times


def measure(requests: int) -> dict[str, Any]:
    prompts = requests // CELLS
    with tempfile.TemporaryDirectory(prefix="mosweep-scale-") as folder:
        data = requests_csv(Path(folder), prompts)
        dry = run_side(sweep(data, Path(folder) / "dry", prompts, "dry"))
        run = run_side(sweep(data, Path(folder) / "run", prompts, "run"))
        times = dispatches(Path(folder) / "run" / "af_grid" / "events.jsonl")
    first, last = times[0] - run["started"], times[-1] - run["started"]
    return {
        "requests": prompts * CELLS,
        "dry_s": dry["wall"],
        "dry_rss_gib": dry["rss_gib"],
        "run_s": run["wall"],
        "run_rss_gib": run["rss_gib"],
        "first_dispatch_s": first,
        "dispatch_per_s": prompts * CELLS / max(last - first, 1e-9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--json")
    args = parser.parse_args()
    print(machine())
    os.environ.setdefault("WANDB_MODE", "offline")
    f = measure(args.requests)
    print(f"\naf_grid, {f['requests']:,} requests, fake engine, no judges")
    print(f"{'mode=dry':<28} {f['dry_s']:>8.1f} s   peak RSS {f['dry_rss_gib']:.2f} GiB")
    print(f"{'mode=run':<28} {f['run_s']:>8.1f} s   peak RSS {f['run_rss_gib']:.2f} GiB")
    print(f"{'first dispatch':<28} {f['first_dispatch_s']:>8.1f} s after the start")
    print(f"{'dispatch rate':<28} {f['dispatch_per_s']:>8,.0f} requests/s")
    per_million = f["dry_s"] * 1_000_000 / f["requests"]
    emit(
        Result(
            name="driver_scale",
            ours=f"mode=dry of {f['requests']:,} requests, scaled to 1,000,000",
            ours_value=per_million,
            other="the target for 1,000,000 requests",
            other_value=60.0,
            unit="s",
            ratio=60.0 / per_million,
            target="mode=dry of 1,000,000 requests < 60 s, peak RSS < 2 GB",
            met=per_million < 60 and f["dry_rss_gib"] * 1_000_000 / f["requests"] < 2,
            note=(
                f"dry peak RSS {f['dry_rss_gib']:.2f} GiB; run {f['run_s']:.0f} s, "
                f"{f['run_rss_gib']:.2f} GiB; first dispatch {f['first_dispatch_s']:.0f} s; "
                f"{f['dispatch_per_s']:,.0f} requests/s dispatched"
            ),
        ),
        args.json,
    )


if __name__ == "__main__":
    main()
