"""Faults inside one invocation, on the tiny model through real Ray and vLLM: a leftover
temporary shard file, W&B failing in two ways, and a poisoned prompt. Each ends with the
dataset complete (or, for the poisoned shards, exactly those rows missing and recorded)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from analysis.columns import read_rows
from jobs.generate import POISON_ENV
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = pytest.mark.usefixtures("ray_cluster")
ROWS = 4 * 12  # tiny: 4 cells x 12 prompts


def keys(results: Path) -> list[tuple[str, str, int]]:
    table = ds.dataset(results, format="parquet").to_table(["cell_id", "prompt_id", "sample_idx"])
    return list(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def test_leftover_temporary_shard_file_is_never_read_as_a_result(tmp_path: Path) -> None:
    first = run(sweep_args(tmp_path, "tracker=none"))
    shard = sorted(first.results.rglob("*.parquet"))[0]
    # A crash between writing and renaming: the rows sit under the temporary name only.
    leftover = shard.with_name(f".{shard.name}.1a2b3c4d.tmp")
    shutil.move(shard, leftover)
    assert len(keys(first.results)) == ROWS - 4  # readers skip it: dot-files are not results
    assert read_rows(first.results).num_rows == ROWS - 4
    again = run(sweep_args(tmp_path, "tracker=none"))
    assert again.shards_run == 1 and again.rows_written == 4  # planned from file names
    assert not leftover.exists() and shard.is_file()
    found = keys(first.results)
    assert len(found) == len(set(found)) == ROWS


def test_unwritable_wandb_folder_skips_wandb_and_completes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "wandb").write_text("a file where W&B's folder must go")
    report = run(sweep_args(tmp_path, "tracker=wandb"))
    out, err = capsys.readouterr()
    assert report.failures == [] and report.rows_written == ROWS
    assert "W&B start failed, W&B skipped for this run" in err and "W&B: skipped" in out
    assert len(set(keys(report.results))) == ROWS


def test_wandb_raising_mid_sweep_skips_wandb_and_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import wandb.sdk.wandb_run

    def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("W&B backend went away")

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", broken)
    report = run(sweep_args(tmp_path, "tracker=wandb"))
    out, err = capsys.readouterr()
    assert report.failures == [] and report.rows_written == ROWS
    assert "W&B log failed, W&B skipped for this run: W&B backend went away" in err
    assert "W&B: skipped (ConnectionError)" in out
    assert len(set(keys(report.results))) == ROWS


def test_poisoned_prompt_fails_its_shards_after_retries_and_the_rest_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POISON_ENV, "capital of France")  # prompt q00, in every cell
    report = run(sweep_args(tmp_path, "tracker=none", "max_retries=2"))
    assert len(report.failures) == 4  # the shard holding q00 in each of the 4 cells
    assert {f.attempts for f in report.failures} == {3}  # the first try and 2 retries
    assert all("poisoned prompt" in f.error for f in report.failures)
    recorded = json.loads((report.sweep_dir / "failed_shards.json").read_text())
    assert sorted(f["shard_id"] for f in recorded) == sorted(f.shard_id for f in report.failures)
    found = keys(report.results)
    assert len(found) == len(set(found)) == ROWS - 4 * 4  # every other shard: 8 of 12 per cell
    assert "q00" not in {prompt for _, prompt, _ in found}
    # Without the poison, the same command runs just the failed shards.
    monkeypatch.delenv(POISON_ENV)
    again = run(sweep_args(tmp_path, "tracker=none"))
    assert again.shards_run == 4 and not again.failures and len(set(keys(report.results))) == ROWS
