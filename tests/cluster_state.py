"""The test cluster's state: its free CPUs (which a test's tasks and actors must hand back),
and what the machine and the cluster looked like when a test on it failed, printed in the
failure's report, since a hang in CI is seen only through its log."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

GIB = 2**30


def free_cpus() -> float:
    """CPUs of the connected cluster that no task or actor holds (Ray leaves the key out
    when none is free)."""
    import ray

    return float(ray.available_resources().get("CPU", 0))


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition` holds within `timeout` seconds (asked every tenth of a second)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def snapshot() -> str:
    import psutil
    import ray

    lines = []
    if ray.is_initialized():
        free = free_cpus()
        lines.append(f"CPUs free in the cluster: {free:g} of {ray.cluster_resources()['CPU']:g}")
    memory = psutil.virtual_memory()
    lines.append(
        f"memory: {memory.available / GIB:.1f} of {memory.total / GIB:.1f} GiB available; "
        f"disk: {shutil.disk_usage('/tmp').free / GIB:.1f} GiB free under /tmp"
    )
    for process in psutil.process_iter(["pid", "cmdline", "status", "memory_info", "cpu_times"]):
        info = process.info
        title = " ".join(info["cmdline"] or [])
        if not title.startswith("ray::") or info["memory_info"] is None:
            continue
        cpu = info["cpu_times"].user + info["cpu_times"].system
        lines.append(
            f"  {info['pid']} {title[:60].strip()}: {info['status']}, "
            f"{info['memory_info'].rss / GIB:.2f} GiB, {cpu:.0f} s of CPU"
        )
    return "\n".join(lines)
