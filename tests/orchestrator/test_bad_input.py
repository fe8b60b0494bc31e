"""Bad input fails before any job starts, in one line that names the fix, losing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.run import run
from tests.conftest import sweep_args


def test_prompt_over_the_context_window_names_the_cell(tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        run(sweep_args(tmp_path, "sampling.max_tokens=250"))
    text = str(error.value)
    assert "cell " in text and "{'prompt_variant': 'plain', 'seed': 0}" in text
    assert "+ sampling.max_tokens=250 > max_model_len=256" in text
    assert "lower sampling.max_tokens or raise model.max_model_len" in text
    assert not (tmp_path / "tiny" / "results").exists() or not any(
        (tmp_path / "tiny" / "results").iterdir()
    )


def test_unreachable_ray_address_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"cannot reach a Ray cluster at ray.address='127.0.0.1:1'.*ray start --head",
    ):
        run(sweep_args(tmp_path, "ray.address=127.0.0.1:1", "engine=fake", "tracker=none"))


def test_bad_input_loses_nothing_already_written(tmp_path: Path, ray_cluster: None) -> None:
    first = run(sweep_args(tmp_path, "engine=fake", "tracker=none"))
    files = {p: p.stat().st_mtime_ns for p in first.results.rglob("*.parquet")}
    assert len(files) == 12
    with pytest.raises(UserError):
        run(sweep_args(tmp_path, "engine=fake", "tracker=none", "sampling.max_tokens=250"))
    with pytest.raises(UserError):
        run(
            sweep_args(
                tmp_path,
                "engine=fake",
                "tracker=none",
                "dataset.source=csv",
                "dataset.path=nope.csv",
            )
        )
    assert {p: p.stat().st_mtime_ns for p in first.results.rglob("*.parquet")} == files


def test_missing_dataset_column_names_the_mapping(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("qid,question\n1,hello\n")
    with pytest.raises(
        UserError,
        match=r"has no column 'id' \(did you mean 'qid'\?\): set dataset.id_field/text_field",
    ):
        run(sweep_args(tmp_path, "mode=dry", "dataset.source=csv", f"dataset.path={data}"))


def test_wandb_failure_never_stops_the_sweep(
    tmp_path: Path, ray_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # W&B cannot create its folder: a file stands where the folder must go.
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "wandb").write_text("in the way")
    report = run(sweep_args(tmp_path, "engine=fake", "tracker=wandb"))
    captured = capsys.readouterr()
    assert report.failures == [] and report.rows_written == 48
    assert "W&B start failed, W&B skipped for this run" in captured.err
    assert "W&B: skipped" in captured.out
