"""The driver at scale: an alignment-faking grid of N requests (af_grid's 2 variants x 2
tiers, N/4 prompts each, ~1,230-token system prompts) on the fake engine with no judges,
so every second and byte measured is the driver's: `mode=dry` (plan, render, check every
budget) and a whole run (plus Ray, the fake engine, Parquet, the report).

    .venv/bin/python -m bench.driver_scale               # 1,000,000 requests, run for 60 s
    .venv/bin/python -m bench.driver_scale --requests 100000 --run-for 0 --before REV

Each side is its own process (`/usr/bin/time`-style peak RSS from the kernel's rusage of
the child); first dispatch is the first `dispatch` event in events.jsonl, counted from the
process start; the dispatch rate is requests dispatched per second between the first and
the last dispatch. `--run-for S` stops the run S seconds after its start (Ctrl-C, as a
researcher would; a re-run resumes it): enough to see the first dispatch, the dispatch rate
and the driver's memory on a grid that would take an hour to finish.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, emit, machine
from bench.prefix_tokens import requests_csv

CELLS = 4  # af_grid: af_cot and af_no_cot x free and paid
SHARD = 50  # requests a shard


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
        f"shard_size={SHARD}",
        "tracker=none",
        f"output_root={output}",
        f"mode={mode}",
    ]


# Runs a command (stopping it with SIGINT after argv[1] seconds, 0: never) and prints the
# peak RSS (KiB) of the largest process it waited for: the driver (Ray's processes are not
# its children to wait for).
PEAK = (
    "import resource, signal, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "try:\n"
    "    child.wait(timeout=float(sys.argv[1]) or None)\n"
    "except subprocess.TimeoutExpired:\n"
    "    child.send_signal(signal.SIGINT); child.wait()\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(child.returncode)\n"
)


def run_side(command: list[str], checkout: Path, stop_after: float = 0) -> dict[str, float]:
    """Wall seconds and the driver's peak RSS (GiB) of one invocation."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(stop_after), *command],
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    wall = time.time() - started
    stopped = stop_after and done.returncode in (1, 130, -signal.SIGINT)
    if done.returncode != 0 and not stopped:
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


def measure(requests: int, run_for: float, checkout: Path = ROOT) -> dict[str, Any]:
    prompts = requests // CELLS
    with tempfile.TemporaryDirectory(prefix="mosweep-scale-") as folder:
        data = requests_csv(Path(folder), prompts)
        dry = run_side(sweep(data, Path(folder) / "dry", prompts, "dry"), checkout)
        run = run_side(sweep(data, Path(folder) / "run", prompts, "run"), checkout, run_for)
        times = dispatches(Path(folder) / "run" / "af_grid" / "events.jsonl")
    first, last = times[0] - run["started"], times[-1] - run["started"]
    return {
        "requests": prompts * CELLS,
        "dry_s": dry["wall"],
        "dry_rss_gib": dry["rss_gib"],
        "run_s": run["wall"],
        "run_rss_gib": run["rss_gib"],
        "first_dispatch_s": first,
        "dispatched": len(times),
        # a shard is SHARD requests; the last dispatch's shard is not counted in the rate
        "dispatch_per_s": (len(times) - 1) * SHARD / max(last - first, 1e-9),
        "stopped": bool(run_for) and len(times) * SHARD < prompts * CELLS,
    }


def print_before(revision: str, requests: int, run_for: float) -> None:
    """The same measurement with the code at `revision` (a git worktree of it)."""
    with tempfile.TemporaryDirectory(prefix="mosweep-before-") as folder:
        tree = Path(folder) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), revision],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            f = measure(requests, run_for, tree)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    print(f"\nbefore: the code at {revision}")
    print(f"{'mode=dry':<28} {f['dry_s']:>8.1f} s   peak RSS {f['dry_rss_gib']:.2f} GiB")
    print(f"{'mode=run':<28} {f['run_s']:>8.1f} s   peak RSS {f['run_rss_gib']:.2f} GiB")
    print(f"{'first dispatch':<28} {f['first_dispatch_s']:>8.1f} s after the start")
    print(f"{'dispatch rate':<28} {f['dispatch_per_s']:>8,.0f} requests/s")
    print("\nnow: this checkout", end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--run-for", type=float, default=60, help="stop the run after S s")
    parser.add_argument("--before", help="a git revision to measure first (a worktree of it)")
    parser.add_argument("--json")
    args = parser.parse_args()
    print(machine())
    os.environ.setdefault("WANDB_MODE", "offline")
    if args.before:
        print_before(args.before, args.requests, args.run_for)
    f = measure(args.requests, args.run_for)
    print(f"\naf_grid, {f['requests']:,} requests, fake engine, no judges")
    print(f"{'mode=dry':<28} {f['dry_s']:>8.1f} s   peak RSS {f['dry_rss_gib']:.2f} GiB")
    ran = f"mode=run (stopped, {f['dispatched']:,} shards)" if f["stopped"] else "mode=run"
    print(f"{ran:<28} {f['run_s']:>8.1f} s   peak RSS {f['run_rss_gib']:.2f} GiB")
    print(f"{'first dispatch':<28} {f['first_dispatch_s']:>8.1f} s after the start")
    print(f"{'dispatch rate':<28} {f['dispatch_per_s']:>8,.0f} requests/s")
    # Only a run at 1,000,000 meets the targets: memory is not linear in the grid any more,
    # so a smaller one is not scaled up.
    gib = 2 / 1.073741824  # 2 GB
    emit(
        Result(
            name="driver_scale",
            ours=f"mode=dry of {f['requests']:,} requests",
            ours_value=f["dry_s"],
            other="the target for 1,000,000 requests",
            other_value=60.0,
            unit="s",
            ratio=60.0 / f["dry_s"],
            target="1,000,000 requests: mode=dry < 60 s, peak RSS < 2 GB, first dispatch < 30 s",
            met=f["requests"] >= 1_000_000
            and f["dry_s"] < 60
            and max(f["dry_rss_gib"], f["run_rss_gib"]) < gib
            and f["first_dispatch_s"] < 30,
            note=(
                f"dry peak RSS {f['dry_rss_gib']:.2f} GiB; run {f['run_s']:.0f} s"
                f"{' (stopped)' if f['stopped'] else ''}, {f['run_rss_gib']:.2f} GiB; first "
                f"dispatch {f['first_dispatch_s']:.1f} s; {f['dispatch_per_s']:,.0f} requests/s "
                "dispatched"
            ),
        ),
        args.json,
    )


if __name__ == "__main__":
    main()
