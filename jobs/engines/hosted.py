"""What every hosted chat engine shares: requests sent on a bounded thread pool, a start rate
per minute, one call per sample, and the shard's rows once all of them answered.

Limits: calls in flight (`concurrency`), call starts per minute and tokens per minute.
A call that still fails after the client's own retries (the providers' SDKs retry 429, 5xx
and timeouts with backoff that honours Retry-After) fails the whole shard: the scheduler
retries it, then records it in failed_shards.json, and the next run asks again. No empty
row is ever written for a failed call.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from jobs.engines.base import Answer, EngineSettings, HostedSettings
from jobs.engines.response_cache import ResponseCache, response_key
from jobs.rows import Completion, Request


class RateLimit:
    """At most `per_minute` call starts in any minute, spaced evenly (no bursts that a
    provider's limiter would refuse)."""

    def __init__(self, per_minute: float | None) -> None:
        self.gap = 60.0 / per_minute if per_minute else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.gap:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.gap
        time.sleep(max(0.0, start - now))


class TokenLimit:
    """At most `per_minute` tokens (prompt + max_tokens of each call, as the providers count a
    request against their limit) in any window of `window` seconds: a call waits until the
    calls of the last window leave room for it."""

    def __init__(self, per_minute: float | None, window: float = 60.0) -> None:
        self.per_minute, self.window = per_minute, window
        self.spent: deque[tuple[float, float]] = deque()
        self.lock = threading.Lock()

    def wait(self, tokens: float) -> None:
        if not self.per_minute:
            return
        tokens = min(tokens, self.per_minute)  # a call larger than the limit goes alone
        while True:
            with self.lock:
                now = time.monotonic()
                while self.spent and now - self.spent[0][0] >= self.window:
                    self.spent.popleft()
                if sum(n for _, n in self.spent) + tokens <= self.per_minute:
                    self.spent.append((now, tokens))
                    return
                pause = self.window - (now - self.spent[0][0])
            time.sleep(max(pause, 0.01))


def api_key(hosted: HostedSettings, default: str | None = None) -> str | None:
    """The key from the environment variable the config names (never from the config)."""
    name = hosted.api_key_env or default
    return os.environ.get(name) if name else None


class HostedEngine:
    """Base of the hosted engines: subclasses implement `call` for one sample; answers
    come from the sweep's response cache when it has them."""

    version = "hosted"
    kind = "hosted"  # the registry name, part of every response's cache key

    def __init__(self, settings: EngineSettings) -> None:
        assert settings.hosted is not None, "a hosted engine needs model.base_url and api"
        self.settings, self.hosted = settings, settings.hosted
        self.model = settings.model_path
        self.pool = ThreadPoolExecutor(self.hosted.concurrency, thread_name_prefix="hosted")
        self.limit = RateLimit(self.hosted.requests_per_minute)
        self.token_limit = TokenLimit(self.hosted.tokens_per_minute)
        self.cache = ResponseCache(self.hosted.cache_dir)

    def call(self, request: Request, sample_idx: int, sampling: dict[str, Any]) -> Answer:
        raise NotImplementedError

    def submit(self, requests: list[Request], sampling: dict[str, Any]) -> Future[list[Completion]]:
        # One task per request, its samples one after another: requests run in parallel, and
        # a request whose first sample fails (a dead endpoint, a bad request) sends no more.
        calls = [self.pool.submit(self._samples, r, sampling) for r in requests]
        done: Future[list[Completion]] = Future()
        gather(calls, done)
        return done

    def _samples(self, request: Request, sampling: dict[str, Any]) -> list[Completion]:
        return [self._timed(request, i, sampling) for i in range(sampling["n"])]

    def _timed(self, request: Request, sample_idx: int, sampling: dict[str, Any]) -> Completion:
        key = response_key(self.kind, self.model, request, sample_idx, sampling)
        started = time.time()
        answer = self.cache.get(key)
        if answer is None:
            self.token_limit.wait(request.prompt_tokens + sampling["max_tokens"])
            self.limit.wait()
            started = time.time()
            answer = self.call(request, sample_idx, sampling)
            self.cache.put(key, answer)
        finished = time.time()
        return Completion(
            prompt_id=request.prompt_id,
            sample_idx=sample_idx,
            text=answer.text,
            finish_reason=answer.finish_reason,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            latency_s=finished - started,
            started_at=started,
            finished_at=finished,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def gather(calls: list[Future[list[Completion]]], done: Future[list[Completion]]) -> None:
    """Resolve `done` with every call's completions in order, or with the first failure."""
    left = [len(calls)]
    lock = threading.Lock()

    def finished(call: Future[list[Completion]]) -> None:
        if call.cancelled():  # cancelled below, after another call failed
            return
        error = call.exception()
        with lock:
            if done.done():
                return
            if error is not None:
                for other in calls:
                    other.cancel()
                done.set_exception(error)
                return
            left[0] -= 1
            if left[0] == 0:
                done.set_result([c for call in calls for c in call.result()])

    if not calls:
        done.set_result([])
    for call in calls:
        call.add_done_callback(finished)
