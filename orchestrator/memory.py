"""Memory a phase of a run freed, handed back to the system before the next phase.

Arrow's allocator (mimalloc in pyarrow's wheels) and glibc's malloc keep what a process
freed for its next allocations, so a run's peak is the sum of its phases, not the largest:
at 1,000,000 af_grid requests the report, built after generation in the same process, took
the driver from 1.03 GiB (dispatching) to 2.19 GiB, while the same report alone peaks at
1.55 GiB (docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa


def give_back() -> None:
    """Return the free memory of Arrow's pool and of glibc's heap to the system (a no-op
    where the C library has no malloc_trim: macOS, musl)."""
    pa.default_memory_pool().release_unused()
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)
