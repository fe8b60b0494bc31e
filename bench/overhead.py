"""Orchestrator overhead: the same requests through one raw `vllm.LLM.generate` call and
through `python -m orchestrator`, on the same model, one after the other on this machine.

    .venv/bin/python -m bench.overhead                 # the smoke sweep (embedded SmolLM2)
    .venv/bin/python -m bench.overhead --sweep tiny --pairs 1   # seconds, for a quick check

The raw path gets exactly the orchestrator's requests (token ids, per-request seeds,
sampling), planned by the orchestrator's own planner. Generation throughput counts from the
first request reaching the engine to the last result (Parquet written, for the
orchestrator), so one-off start-up is excluded; the end-to-end columns include it: each
side is a fresh process, timed from its start to its exit, as a user waits for a script or
the command (a raw side run in this process would import vLLM once for every pair). Each
figure is the median of `--pairs` interleaved runs of the two sides (3 by default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import pyarrow.compute as pc

from analysis.summary import read_results
from bench.common import Result, emit
from orchestrator import models
from orchestrator.events import read_events
from orchestrator.plan import pending_shards, prepare_jobs
from orchestrator.run import load_sweep
from orchestrator.workers import engine_settings, worker_env


def raw_vllm(overrides: list[str]) -> dict[str, Any]:
    """Every request of the sweep in one `LLM.generate` call, in this process (started by
    `raw_side`). It does the same work as the orchestrator: composing the config, planning
    and tokenizing the requests, loading the engine and generating (only Ray, the results'
    Parquet files and the report are the orchestrator's own)."""
    _, root, cells = load_sweep(overrides)
    prepared = prepare_jobs(root, pending_shards(cells, {}, root.shard_size))
    cell = cells[0].config
    device = engine_device(cell.engine.device)
    os.environ.update(worker_env(cell, device, "/tmp/mosweep-bench-cache"))
    # Asking torch for the GPU started CUDA in this process: vLLM's engine process must be
    # spawned, not forked (a forked child cannot use CUDA; measured on an H200).
    os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
    from vllm import LLM
    from vllm.inputs import TokensPrompt

    from jobs.engines.vllm_engine import llm_kwargs, sampling_params

    prompts, params = [], []
    for job in prepared.jobs():
        for r in job.task.requests:
            prompts.append(TokensPrompt(prompt_token_ids=list(r.token_ids)))
            # the orchestrator's own parameters: its stop strings and per-request seed
            params.append(sampling_params(job.task.sampling, r.seed))
    path = prepared.paths[models.weights_key(cell.model)]
    loading = time.perf_counter()
    llm = LLM(**llm_kwargs(engine_settings(cell, device, path)))
    ready = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    done = time.perf_counter()
    tokens = sum(len(o.token_ids) for out in outputs for o in out.outputs)
    return {
        "requests": len(prompts),
        "tokens": tokens,
        "gen_s": done - ready,
        # the engine's construction: weights, and on a GPU compiling and graph capture
        "load_s": ready - loading,
        "device": device_name(device),
    }


def engine_device(configured: str) -> str:
    """The device the orchestrator's engines get (engine.device; auto: a GPU if there is
    one, as Ray would find it)."""
    if configured != "auto":
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return f"GPU ({torch.cuda.get_device_name(0)})"
    return f"CPU ({os.cpu_count()} cores)"


def raw_side(overrides: list[str]) -> dict[str, Any]:
    """The raw side in a process of its own: `python -m bench.overhead --raw`."""
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-raw-") as folder:
        out = Path(folder) / "raw.json"
        start = time.perf_counter()
        command = [sys.executable, "-m", "bench.overhead", "--raw", str(out), *overrides]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        e2e = time.perf_counter() - start
        return {**json.loads(out.read_text()), "e2e_s": e2e}


def orchestrated(overrides: list[str], output_root: Path) -> dict[str, float]:
    _, root, _ = load_sweep(overrides)
    start, wall_start = time.perf_counter(), time.time()
    command = [*overrides, f"output_root={output_root}", "tracker=none"]
    subprocess.run([sys.executable, "-m", "orchestrator", *command], check=True)
    e2e = time.perf_counter() - start
    results = output_root / root.sweep.name / "results"
    rows = read_results(results, ["completion_tokens", "started_at", "finished_at"])
    first = pc.min(rows["started_at"]).as_py()
    last = pc.max(rows["finished_at"]).as_py()
    # finished_at is when the engine returned the request; the shard's Parquet write follows.
    written = max(p.stat().st_mtime for p in results.rglob("*.parquet"))
    span = max((last - first).total_seconds(), written - first.timestamp())
    tokens = int(pc.sum(rows["completion_tokens"]).as_py())
    # Where end to end goes: until the engine pool is started (composing, planning, Ray's
    # start), until its first request (the engine actor's process, vLLM's import, the model
    # load), generating, and after the last row (the judge stage, the report).
    events = read_events(results.parent / "events.jsonl")
    pool = min(e["started"] for e in events if e["event"] == "engine_load")
    first_written = min(p.stat().st_mtime for p in results.rglob("*.parquet"))
    return {
        "requests": rows.num_rows,
        "tokens": tokens,
        "gen_s": span,
        "e2e_s": e2e,
        "to_pool_s": pool - wall_start,
        "to_engine_s": first.timestamp() - pool,
        "first_row_s": first_written - wall_start,
        "after_s": wall_start + e2e - (first.timestamp() + span),
    }


def rates(r: dict[str, float]) -> tuple[float, float]:
    """(generation tok/s, end-to-end tok/s) of one side of one pair."""
    return r["tokens"] / r["gen_s"], r["tokens"] / r["e2e_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", default="smoke")
    parser.add_argument(
        "--pairs", type=int, default=3, help="interleaved raw/orchestrator pairs (median)"
    )
    parser.add_argument(
        "overrides", nargs="*", help="extra config overrides, e.g. sampling.max_tokens=64"
    )
    parser.add_argument("--json", help="write the result here (bench/run_all.py)")
    parser.add_argument("--raw", help=argparse.SUPPRESS)  # the raw side's own process
    args = parser.parse_args()
    if args.raw:
        Path(args.raw).write_text(json.dumps(raw_vllm(args.overrides)))
        return 0
    overrides = [f"+sweep={args.sweep}", *args.overrides]
    # Interleaved, so a machine that slows down during the run slows both sides alike.
    pairs = []
    for _ in range(args.pairs):
        raw = raw_side(overrides)
        with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
            pairs.append((raw, orchestrated(overrides, Path(folder))))
    requests, device = pairs[0][0]["requests"], pairs[0][0]["device"]
    print(f"\nsweep {args.sweep}: {requests:.0f} requests, {device}\n")
    print(
        f"{'pair':<5}{'path':<19}{'gen tokens':>11}{'gen s':>9}{'gen tok/s':>11}{'e2e s':>9}"
        f"{'e2e tok/s':>11}"
    )
    for k, pair in enumerate(pairs, 1):
        for name, r in zip(("raw LLM.generate", "orchestrator"), pair, strict=True):
            gen, e2e = rates(r)
            print(
                f"{k:<5}{name:<19}{r['tokens']:>11.0f}{r['gen_s']:>9.1f}{gen:>11.1f}"
                f"{r['e2e_s']:>9.1f}{e2e:>11.1f}"
            )
    print(
        "\norchestrator end to end (median s): before the engine pool starts "
        f"{median(o['to_pool_s'] for _, o in pairs):.1f}, engine start to first request "
        f"{median(o['to_engine_s'] for _, o in pairs):.1f}, generating "
        f"{median(o['gen_s'] for _, o in pairs):.1f}, after the last row "
        f"{median(o['after_s'] for _, o in pairs):.1f}; first row written "
        f"{median(o['first_row_s'] for _, o in pairs):.1f}"
    )
    print(
        "raw engine construction (median s; weights, compiling, graph capture): "
        f"{median(r['load_s'] for r, _ in pairs):.1f}"
    )
    raw_gen = median(rates(raw)[0] for raw, _ in pairs)
    ours_gen = median(rates(ours)[0] for _, ours in pairs)
    raw_e2e = median(rates(raw)[1] for raw, _ in pairs)
    ours_e2e = median(rates(ours)[1] for _, ours in pairs)
    gen_ratio, e2e_ratio = ours_gen / raw_gen, ours_e2e / raw_e2e
    # On a GPU the engine does not share cores with the driver: a higher bar than on CPU.
    floor = 0.98 if device.startswith("GPU") else 0.95
    print(
        f"\nmedian of {len(pairs)}: orchestrator / raw, generation tok/s: {gen_ratio:.2f}   "
        f"end to end: {e2e_ratio:.2f}"
    )
    result = Result(
        "orchestrator vs raw vLLM",
        "orchestrator",
        ours_gen,
        "raw LLM.generate",
        raw_gen,
        "generated tok/s",
        gen_ratio,
        target=f">= {floor}",
        met=gen_ratio >= floor,
        note=f"{args.sweep} sweep on {device}, {requests:.0f} requests, median of "
        f"{len(pairs)} interleaved pairs; end to end (composing, planning, start-up "
        f"included) {ours_e2e:.0f} vs {raw_e2e:.0f} tok/s, ratio {e2e_ratio:.2f} (target >= 0.8: "
        f"{'met' if e2e_ratio >= 0.8 else 'missed'})",
    )
    emit(result, args.json)
    return 0


# vLLM's engine process re-imports the main module: without the guard it dies at start.
if __name__ == "__main__":
    sys.exit(main())
