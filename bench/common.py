"""What every benchmark shares: one result record (two ways of doing the same work and
their ratio), written as JSON for bench/run_all.py, and the machine's description."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    name: str
    ours: str  # what was measured on mosweep's side, and its figure
    ours_value: float
    other: str  # the way it is compared with
    other_value: float
    unit: str
    ratio: float  # ours / other, in the direction where larger is better
    target: str = ""  # this round's target, if the issue set one
    met: bool | None = None
    note: str = ""


def emit(result: Result, path: str | None) -> None:
    print(
        f"\n{result.name}: {result.ours} {result.ours_value:,.2f} {result.unit} vs "
        f"{result.other} {result.other_value:,.2f} {result.unit}: ratio {result.ratio:.2f}"
        + (
            f" (target {result.target}: {'met' if result.met else 'missed'})"
            if result.target
            else ""
        )
    )
    if path:
        Path(path).write_text(json.dumps(asdict(result)))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in info.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kb = int(meminfo.read_text().split()[1])
        memory = f", {kb / 2**20:.0f} GiB RAM"
    python = f"Python {platform.python_version()}, {platform.system()}"
    return f"{os.cpu_count()} CPU cores ({cpu}){memory}, no GPU, {python}"


def control_arguments(doc: str) -> argparse.Namespace:
    """A control's command line: --json for run_all.py, then sweep overrides."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--json")
    parser.add_argument("overrides", nargs="*")
    return parser.parse_args()


@contextmanager
def fresh_sweep(args: list[str], what: str) -> Iterator[tuple[Path, float]]:
    """Run `python -m orchestrator <args>` into a fresh output folder (W&B off); yields the
    folder and the wall seconds it took, and removes the folder afterwards."""
    print(machine())
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        sweep = [*args, f"output_root={folder}", "tracker=none"]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "orchestrator", *sweep], cwd=ROOT)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{what} failed (exit {done.returncode})")
        yield Path(folder), seconds


def emit_control(result: Result, holds: bool, seconds: float, path: str | None) -> int:
    """Print a control's result line (met: it holds within 20 minutes); its exit code."""
    result.met = holds and seconds <= 20 * 60
    result.note = f"{seconds:.0f} s wall"
    emit(result, path)
    return 0 if holds else 1
