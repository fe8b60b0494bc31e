"""A live progress line: shards done/total, rows/s, generated tokens/s, ETA.

Its rates count from the first finished shard (engine start-up is not throughput); the end
summary's rate is over the whole run, start-up included, and says so.

On a terminal it redraws one line; in logs (CI, `ray job submit`) it prints a line at most
every 10 seconds, so a long sweep's log stays readable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(
        self,
        sweep: str,
        shards: int,
        rows: int,
        stream: TextIO = sys.stdout,
        log: Callable[[dict[str, Any]], None] | None = None,  # the counts to the tracker
    ) -> None:
        self.sweep, self.shards, self.rows, self.log = sweep, shards, rows, log
        self.stream = stream
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last_print = 0.0
        self.shards_done = self.rows_done = self.tokens = self.failed = 0
        # Rates count from the first result: engine start-up is not throughput.
        self.first: tuple[float, int, int] | None = None

    def update(self, rows: int = 0, tokens: int = 0, failed: int = 0) -> None:
        self.shards_done += 1
        self.rows_done += rows
        self.tokens += tokens
        self.failed += failed
        now = time.monotonic()
        if self.first is None:
            self.first = (now, self.rows_done, self.tokens)
        if self.log is not None:
            self.log(
                {
                    "batches_done": self.shards_done,
                    "prompts_done": self.rows_done,
                    "prompts_total": self.rows,
                }
            )
        if self.tty or now - self.last_print >= 10 or self.shards_done == self.shards:
            self.last_print = now
            end = "" if self.tty else "\n"
            self.stream.write(("\r" if self.tty else "") + self.line() + end)
            self.stream.flush()

    def line(self) -> str:
        now = time.monotonic()
        elapsed = now - self.start
        since, rows0, tokens0 = self.first or (now, 0, 0)
        span = max(now - since, 1e-6)
        rate = (self.rows_done - rows0) / span
        left = (self.rows - self.rows_done) / rate if rate > 0 else 0.0
        failed = f" | {self.failed} failed" if self.failed else ""
        return (
            f"[{self.sweep}] shards {self.shards_done}/{self.shards}{failed} | "
            f"rows {self.rows_done}/{self.rows} | {rate:.1f} rows/s | "
            f"{(self.tokens - tokens0) / span:.0f} generated tok/s | elapsed {clock(elapsed)} | "
            f"ETA {clock(left) if rate > 0 else '?'}"
        )

    def close(self) -> None:
        if self.tty and self.shards_done:
            self.stream.write("\n")
            self.stream.flush()
