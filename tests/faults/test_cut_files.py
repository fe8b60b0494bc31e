"""Files under a final name that cannot be read (emptied or cut short by a power loss or a
preempted VM before their data reached the disk): never counted as done, set aside in
quarantine/ on the next run, and made again, so the dataset ends with every row once.
The fake engine serves here: what is tested is the store, not generation."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from analysis.columns import read_rows
from orchestrator.errors import UserError
from orchestrator.graph.artifacts import Artifacts
from orchestrator.judges.cache import JudgeCache
from orchestrator.report import sweep_rows
from orchestrator.run import load_sweep, run
from orchestrator.store import ResultStore
from tests.conftest import sweep_args

ROWS = 4 * 12  # tiny: 4 cells x 12 prompts


def fake(tmp_path: Path, *extra: str) -> list[str]:
    return sweep_args(tmp_path, "engine=fake", "tracker=none", *extra)


def keys(results: Path) -> list[tuple[str, str]]:
    table = ds.dataset(results, format="parquet").to_table(["cell_id", "prompt_id"])
    return list(zip(table["cell_id"].to_pylist(), table["prompt_id"].to_pylist(), strict=True))


def test_emptied_and_cut_shard_files_are_set_aside_and_made_again(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(fake(tmp_path))
    emptied, cut = sorted(first.results.rglob("*.parquet"))[:2]
    emptied.write_bytes(b"")
    cut.write_bytes(cut.read_bytes()[:-40])
    capsys.readouterr()
    run(fake(tmp_path, "mode=status"))  # read-only: says so, moves nothing, not "done"
    out = capsys.readouterr().out
    assert "not a whole Parquet file: the next run sets it aside" in out
    assert "4/4 cells complete" not in out and emptied.is_file() and cut.is_file()
    again = run(fake(tmp_path))
    assert again.shards_run == 2 and not again.failures
    quarantined = sorted(p.name for p in (tmp_path / "tiny" / "quarantine").rglob("*.parquet.*"))
    assert [q.split(".parquet.")[0] for q in quarantined] == sorted(p.stem for p in (emptied, cut))
    found = keys(again.results)
    assert len(found) == len(set(found)) == ROWS


def test_a_copy_of_a_shard_and_a_stray_file_are_never_counted(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a shard copied under another name (`X (copy).parquet`) was counted twice in
    the run summary and the report (52 rows for 48 requests), and a README in a results
    partition ended every later run in a traceback."""
    first = run(fake(tmp_path))
    shard = sorted(first.results.rglob("*.parquet"))[0]
    copy = shard.with_name(f"{shard.stem} (copy).parquet")
    shutil.copy(shard, copy)
    (shard.parent / "README.md").write_text("notes on this run")
    capsys.readouterr()
    again = run(fake(tmp_path))
    out = capsys.readouterr().out
    assert not again.failures and again.shards_run == 0
    assert out.count(f"warning: {copy} is not a shard file of this sweep") == 1
    assert out.count("README.md is not a shard file of this sweep") == 1
    rows = sweep_rows(again.results, load_sweep(fake(tmp_path))[2], ["prompt_id"])
    assert rows.num_rows == ROWS
    assert read_rows(again.results).num_rows == ROWS  # what the report reads
    assert copy.is_file()  # not ours to delete


def test_an_empty_json_file_beside_the_results_blocks_nothing(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(fake(tmp_path))
    (first.sweep_dir / "models.json").write_text("")
    (first.sweep_dir / "failed_shards.json").write_text('[{"cell_id": ')
    run(fake(tmp_path, "mode=status"))
    assert "failed_shards.json is not valid JSON" in capsys.readouterr().out
    again = run(fake(tmp_path))
    assert not again.failures
    assert json.loads((first.sweep_dir / "models.json").read_text()) == {}  # written anew
    assert json.loads((first.sweep_dir / "failed_shards.json").read_text()) == []
    assert [p.name.split(".json")[0] for p in (first.sweep_dir / "quarantine").iterdir()] == [
        "models"
    ]


def test_a_cut_judge_cache_part_is_set_aside_and_its_answers_asked_again(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    folder = tmp_path / "judge_cache"
    JudgeCache(folder, store.quarantine).add({"a": ["refused: 0"]})
    JudgeCache(folder, store.quarantine).add({"b": ["refused: 1"]})
    first, second = sorted(folder.glob("part-*.parquet"))
    second.write_bytes(second.read_bytes()[:10])
    cache = JudgeCache(folder, store.quarantine)
    assert "a" in cache and "b" not in cache  # b is asked again
    assert [p.name for p in folder.iterdir()] == [first.name]
    assert len(list((tmp_path / "quarantine" / "judge_cache").iterdir())) == 1


def test_a_cut_scores_file_is_scored_again(tmp_path: Path) -> None:
    from orchestrator.studies.alignment_faking.judging import scored

    store = ResultStore(tmp_path)
    scores = tmp_path / "scores" / "model=m" / "aaaaaaaaaaaa_000000-000001.parquet"
    scores.parent.mkdir(parents=True)
    judged = {"judge_failed": pa.array([None], pa.string()), "judges": ["{}"]}
    pq.write_table(pa.table(judged), scores)
    assert scored(scores, store, "{}")
    assert not scored(scores, store, '{"compliance": {}}')  # other judges: scored again
    scores.write_bytes(scores.read_bytes()[:-8])
    assert not scored(scores, store, "{}") and not scores.exists()


def test_an_empty_stage_artifact_counts_as_missing(tmp_path: Path) -> None:
    artifacts = Artifacts(ResultStore(tmp_path))
    artifacts.write_json("answers", "k", {"p1": "answer"})
    artifacts.write_json("data", "d", [{"prompt": "q", "completion": "a"}], ".jsonl")
    assert artifacts.done("answers", "k", ".json") and artifacts.done("data", "d", ".jsonl")
    artifacts.path("answers", "k", ".json").write_text("")
    artifacts.path("data", "d", ".jsonl").write_text("")
    assert not artifacts.done("answers", "k", ".json")
    assert not artifacts.done("data", "d", ".jsonl")
    assert len([p for p in (tmp_path / "quarantine").rglob("*") if p.is_file()]) == 2


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("grid.json", '{"cells": ["a', "grid.json is not the grid file mosweep writes"),
        ("grid.json", "[1, 2]", "grid.json is not the grid file mosweep writes"),
        ("config.yaml", "study: [1", "config.yaml cannot be read (ParserError)"),
        ("config.yaml", "\udcff\udcfe", "config.yaml cannot be read (UnicodeDecodeError)"),
    ],
)
def test_a_torn_grid_or_config_file_is_one_line_and_the_next_run_writes_it_again(
    tmp_path: Path, ray_cluster: None, name: str, text: str, said: str
) -> None:
    """Before: a traceback from json or YAML that named no file, at every report."""
    first = run(fake(tmp_path))
    (first.sweep_dir / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(UserError, match=re.escape(said)) as raised:
        run(fake(tmp_path, "mode=report"))
    assert "\n" not in str(raised.value) and "re-run the sweep's command" in str(raised.value)
    again = run(fake(tmp_path))
    assert not again.failures and again.shards_run == 0 and again.report_error is None
