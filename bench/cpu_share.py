"""Where the CPU goes while the orchestrator generates: every process of a run (the driver,
Ray's GCS and raylet, the engine's worker, Ray's other workers and agents) sampled twice a
second, and each one's CPU seconds between the first request reaching the engine and the
last row returned, as a share of the machine's cores.

    .venv/bin/python -m bench.cpu_share                  # the smoke sweep (embedded SmolLM2)
    .venv/bin/python -m bench.cpu_share --sweep tiny

On a machine with few cores, whatever is not the engine is taken from the engine: this is
the table that says how much (bench/overhead.py measures the throughput it costs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psutil
import pyarrow.compute as pc

from analysis.summary import read_results
from bench.common import ROOT, machine

Samples = list[tuple[float, dict[int, tuple[str, float]]]]  # (time, pid -> (role, cpu s))


def role(process: psutil.Process, driver: int) -> str:
    """What a process of the run is, from its command line."""
    if process.pid == driver:
        return "driver"
    try:
        line = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "other"
    for needle, name in (
        ("GenerationWorker", "engine worker"),
        ("gcs_server", "Ray GCS"),
        ("raylet", "Ray raylet"),
        ("ray::IDLE", "Ray idle workers"),
        ("default_worker", "Ray idle workers"),
        ("log_monitor", "Ray agents"),
        ("agent", "Ray agents"),
    ):
        if needle in line:
            return name
    return "other"


def sample(driver: psutil.Process) -> dict[int, tuple[str, float]]:
    out = {}
    try:
        processes = [driver, *driver.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for process in processes:
        try:
            times = process.cpu_times()
            out[process.pid] = (role(process, driver.pid), times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def run_sampled(command: list[str]) -> Samples:
    samples: Samples = []
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    driver = psutil.Process(child.pid)
    while child.poll() is None:
        samples.append((time.time(), sample(driver)))
        time.sleep(0.5)
    if child.returncode:
        raise SystemExit(f"the sweep failed (exit {child.returncode})")
    return samples


def at(samples: Samples, moment: float) -> dict[int, tuple[str, float]]:
    """The last sample at or before `moment` (each process's CPU seconds until then)."""
    before = [s for t, s in samples if t <= moment]
    return before[-1] if before else {}


def shares(samples: Samples, start: float, end: float) -> dict[str, float]:
    """Each role's CPU seconds between start and end."""
    first, last = at(samples, start), at(samples, end)
    spent: dict[str, float] = defaultdict(float)
    for pid, (name, cpu) in last.items():
        spent[name] += cpu - (first[pid][1] if pid in first else 0.0)
    return dict(spent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="smoke")
    parser.add_argument("overrides", nargs="*", help="extra config overrides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mosweep-cpu-") as folder:
        command = [
            sys.executable,
            "-m",
            "orchestrator",
            f"+sweep={args.sweep}",
            f"output_root={folder}",
            "tracker=none",
            *args.overrides,
        ]
        samples = run_sampled(command)
        rows = read_results(Path(folder) / args.sweep / "results", ["started_at", "finished_at"])
        start = pc.min(rows["started_at"]).as_py().timestamp()
        end = pc.max(rows["finished_at"]).as_py().timestamp()
    spent = shares(samples, start, end)
    cores = os.cpu_count() or 1
    window = end - start
    print(machine())
    available = window * cores  # the CPU time there was: the window on every core
    print(
        f"\nsweep {args.sweep}: generation {window:.1f} s x {cores} cores = {available:.1f} CPU s"
    )
    print(f"{'process':<20}{'CPU s':>8}{'share':>8}")
    for name, cpu in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{name:<20}{cpu:>8.1f}{cpu / available:>8.0%}")
    idle = available - sum(spent.values())
    print(f"{'(idle or not ours)':<20}{idle:>8.1f}{idle / available:>8.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
