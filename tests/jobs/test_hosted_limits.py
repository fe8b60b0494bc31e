"""The hosted engines' own limits: call starts per minute and tokens per minute. Measured on
the limiters themselves with short windows (the engine waits on them before each call)."""

from __future__ import annotations

import itertools
import threading
import time

from jobs.engines.hosted import RateLimit, TokenLimit


def test_call_starts_are_spaced_to_the_rate() -> None:
    limit = RateLimit(per_minute=600)  # one start every 0.1 s
    starts = []
    for _ in range(5):
        limit.wait()
        starts.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.09 and starts[-1] - starts[0] < 1.0


def test_tokens_per_window_make_a_call_wait_for_room() -> None:
    limit = TokenLimit(per_minute=1000, window=1.0)
    started = time.monotonic()
    limit.wait(600)
    limit.wait(300)  # 900 of 1000: no wait
    assert time.monotonic() - started < 0.1
    limit.wait(300)  # 1200 would pass the limit: waits until the first call leaves the window
    assert time.monotonic() - started >= 0.95


def test_no_limit_never_waits_and_a_huge_call_goes_alone() -> None:
    TokenLimit(None).wait(10**9)
    limit = TokenLimit(per_minute=100, window=1.0)
    started = time.monotonic()
    limit.wait(10_000)  # larger than the limit: counted as the whole window's budget
    done = threading.Event()
    threading.Thread(target=lambda: (limit.wait(1), done.set())).start()
    assert not done.wait(0.5)  # the next call waits for the window to pass
    assert done.wait(2.0) and time.monotonic() - started >= 0.95
