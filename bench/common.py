"""What every benchmark shares: one result record (two ways of doing the same work and
their ratio), written as JSON for bench/run_all.py, and the machine's description."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path


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
