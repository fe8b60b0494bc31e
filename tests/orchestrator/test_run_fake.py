"""The driver's scheduling, retry and resume logic through real Ray with the fake engine.

Fast (no model load); the same paths run with real vLLM in tests/test_end_to_end.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from jobs.engines.fake import POISON
from orchestrator import generation
from orchestrator.events import read_events
from orchestrator.plan import Prepared
from orchestrator.pools import EnginePools, Pool
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = pytest.mark.usefixtures("ray_cluster")


def prompts_file(folder: Path, poisoned: set[int]) -> Path:
    path = folder / "prompts.jsonl"
    lines = []
    for i in range(10):
        text = f"{POISON} question {i}" if i in poisoned else f"question {i}"
        lines.append(json.dumps({"id": f"p{i}", "prompt": text}))
    path.write_text("\n".join(lines) + "\n")
    return path


def fake_args(tmp_path: Path, *extra: str) -> list[str]:
    data = prompts_file(tmp_path, poisoned={7})
    return sweep_args(
        tmp_path / "runs",
        "engine=fake",
        "tracker=none",
        "dataset.source=jsonl",
        f"dataset.path={data}",
        "shard_size=3",
        "max_retries=1",
        *extra,
    )


def test_failing_shard_is_recorded_and_the_rest_complete(tmp_path: Path) -> None:
    report = run(fake_args(tmp_path))
    # 4 cells x shards [0,3) [3,6) [6,9) [9,10): the [6,9) shard of each cell is poisoned.
    assert len(report.failures) == 4
    assert all(f.shard_id.endswith("_000006-000009") for f in report.failures)
    assert all(f.attempts == 2 and "poisoned prompt p7" in f.error for f in report.failures)
    assert report.rows_written == 4 * 7
    recorded = json.loads((report.sweep_dir / "failed_shards.json").read_text())
    assert {r["shard_id"] for r in recorded} == {f.shard_id for f in report.failures}


def test_rerun_retries_only_missing_shards(tmp_path: Path) -> None:
    first = run(fake_args(tmp_path))
    files = {p: p.stat().st_mtime_ns for p in first.results.rglob("*.parquet")}
    second = run(fake_args(tmp_path))
    assert second.shards_run == 0 and len(second.failures) == 4  # only the poisoned ones ran
    assert {p: p.stat().st_mtime_ns for p in second.results.rglob("*.parquet")} == files
    # Fix the data (same ids, new text = a new dataset hash = new cells) and all of it runs.
    (tmp_path / "prompts.jsonl").write_text(
        (tmp_path / "prompts.jsonl").read_text().replace(POISON, "ok")
    )
    fixed = run(
        sweep_args(
            tmp_path / "runs",
            "engine=fake",
            "tracker=none",
            "dataset.source=jsonl",
            f"dataset.path={tmp_path / 'prompts.jsonl'}",
            "shard_size=3",
        )
    )
    assert fixed.failures == [] and fixed.rows_written == 40


def test_status_reports_progress_without_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(fake_args(tmp_path))
    capsys.readouterr()
    report = run(fake_args(tmp_path, "mode=status"))
    out = capsys.readouterr().out
    assert report.shards_run == 0
    assert out.count(" 7/10 ") == 4 and out.count("failed") >= 4
    assert "0/4 cells complete" in out


def test_samples_per_prompt_make_rows(tmp_path: Path) -> None:
    report = run(fake_args(tmp_path, "sampling.n=3", "dataset.limit=6"))
    rows = ds.dataset(report.results, format="parquet", partitioning="hive").to_table()
    assert rows.num_rows == report.rows_written == 4 * 6 * 3
    assert sorted(set(rows["sample_idx"].to_pylist())) == [0, 1, 2]
    # every row has its rendered prompt, filled in by the driver (workers no longer send it)
    prompts = rows.select(["prompt_id", "rendered_prompt"]).to_pylist()
    assert all(f"question {r['prompt_id'][1:]}" in r["rendered_prompt"] for r in prompts)


def test_a_sample_ends_at_its_first_stop_string(tmp_path: Path) -> None:
    """The fake engine keeps the stop string and drops what follows, as vLLM does
    (include_stop_str_in_output); its answers read `fake answer to <id> #<n> seed <s>`."""
    report = run(fake_args(tmp_path, "dataset.limit=6", "sampling.stop=[' to',answer]"))
    rows = ds.dataset(report.results, format="parquet", partitioning="hive").to_table()
    assert rows.num_rows == 4 * 6 and set(rows["completion"].to_pylist()) == {"fake answer"}


def test_a_run_whose_report_fails_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rows are saved, but a report that cannot be built is never a silent success:
    exit 1 and one line naming the section and the rebuild command (was: exit 0)."""
    import analysis.report
    from orchestrator.__main__ import main

    def broken(rows: object) -> None:
        raise ValueError("a figure went wrong\nand a second line")

    monkeypatch.setattr(analysis.report, "cell_summary", broken)
    args = sweep_args(tmp_path, "engine=fake", "tracker=none")
    assert main(args) == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "report" in x]
    assert line == (
        "error: report not built: report section 'cells' failed (ValueError: a figure went "
        f"wrong); the results are saved; rebuild it with python -m analysis {tmp_path / 'tiny'}"
    )
    assert len(list((tmp_path / "tiny" / "results").rglob("*.parquet"))) == 12  # all kept


def test_prompts_are_prepared_in_a_thread_while_the_cluster_starts_on_the_main_one() -> None:
    import threading
    import time

    from orchestrator.errors import UserError
    from orchestrator.generation import while_starting

    seen: dict[str, object] = {}

    def prepare() -> str:
        seen["prepare"] = threading.current_thread().name
        time.sleep(0.3)
        seen["prepared_while_starting"] = "start" in seen and "started" not in seen
        return "jobs"

    def start() -> None:
        seen["start"] = threading.current_thread() is threading.main_thread()
        time.sleep(0.6)
        seen["started"] = True

    assert while_starting(prepare, start) == "jobs"
    assert seen["start"] is True and seen["prepare"] == "mosweep-prepare"
    assert seen["prepared_while_starting"] is True

    def too_long() -> str:
        raise UserError("prompt 'p1' has 9000 tokens")

    with pytest.raises(UserError, match="9000 tokens"):
        while_starting(too_long, lambda: None)


def test_the_first_engine_starts_while_the_prompts_are_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the engine pool started only once every prompt was prepared and checked (on a
    paper-size grid, minutes of tokenizing before the model began to load)."""
    started, early, pools = threading.Event(), [], []
    start, prepare = EnginePools.start, generation.prepare_jobs

    def starting(self: EnginePools, *args: Any, **kwargs: Any) -> Pool:
        pool = start(self, *args, **kwargs)
        started.set()
        pools.append(pool)
        return pool

    def preparing(*args: Any) -> Prepared:
        early.append(started.wait(timeout=30))  # the engine starts meanwhile, or after
        return prepare(*args)

    monkeypatch.setattr(EnginePools, "start", starting)
    monkeypatch.setattr(generation, "prepare_jobs", preparing)
    report = run(fake_args(tmp_path))
    assert early == [True] and report.rows_written == 4 * 7
    loads = [
        e for e in read_events(report.sweep_dir / "events.jsonl") if e["event"] == "engine_load"
    ]
    # The generate nodes took the pool started early: no second pool, and its key is theirs.
    assert len(pools) == 1 and len(loads) == 1 and loads[0]["pool"] == pools[0].key
