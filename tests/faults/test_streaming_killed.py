"""The driver is SIGKILLed while judging goes along with generation (some shards scored,
generation not finished), then the same command runs again: every row is generated once and
scored once, and no file written before the kill is written again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds

from tests.conftest import REPO
from tests.faults.test_driver_killed import kill_when
from tests.orchestrator.test_judge_stage import Judge, af_args, endpoint  # noqa: F401

SHARDS = 4 * 2  # af_grid's 4 cells x 6 prompts in shards of 3


def command(tmp_path: Path) -> list[str]:
    one = "engine.shards_in_flight=1"  # one shard after another
    return [sys.executable, "-m", "orchestrator", *af_args(tmp_path, one)]


def files(tmp_path: Path, folder: str) -> dict[str, tuple[int, int]]:
    found = (tmp_path / "runs" / "af_grid" / folder).rglob("*.parquet")
    return {p.stem: (p.stat().st_ino, p.stat().st_mtime_ns) for p in found}


def test_driver_killed_while_judging_along_then_rerun_scores_every_row_once(
    tmp_path: Path,
    endpoint: type[Judge],  # noqa: F811
) -> None:
    log = tmp_path / "first.log"
    driver = subprocess.Popen(
        command(tmp_path),
        cwd=REPO,
        # 0.9 s a shard: judging keeps up with generation
        env={**os.environ, "MOSWEEP_FAKE_LATENCY_S": "0.3", "PYTHONUNBUFFERED": "1"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    kill_when(
        driver,
        lambda: bool(files(tmp_path, "scores")) and len(files(tmp_path, "results")) < SHARDS - 2,
        log,
    )
    results, scores = files(tmp_path, "results"), files(tmp_path, "scores")
    assert scores and len(results) < SHARDS  # killed mid-generation, some shards scored
    rerun = subprocess.run(command(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    after = {folder: files(tmp_path, folder) for folder in ("results", "scores")}
    assert len(after["results"]) == len(after["scores"]) == SHARDS
    assert {k: after["results"][k] for k in results} == results  # none written again
    assert {k: after["scores"][k] for k in scores} == scores
    for folder in ("results", "scores"):
        table = ds.dataset(tmp_path / "runs" / "af_grid" / folder, format="parquet").to_table(
            ["cell_id", "prompt_id", "sample_idx"]
        )
        keys = set(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))
        assert len(keys) == table.num_rows == 4 * 6, folder
