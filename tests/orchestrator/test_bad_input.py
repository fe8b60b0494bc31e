"""Bad input fails before any job starts, in one line that names the fix, losing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.schema import JudgeConfig, RootConfig
from orchestrator.errors import UserError
from orchestrator.judges.spec import judge_specs
from orchestrator.run import load_sweep, run
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


def test_alignment_faking_prompt_over_the_context_window(tmp_path: Path) -> None:
    """The full af_cot system prompt cannot fit the tiny model's 256 tokens: refused before
    any job, naming the cell, its axes and the token counts."""
    with pytest.raises(UserError) as error:
        run(sweep_args(tmp_path, "model=tiny", "engine=fake", "tracker=none", sweep="af_grid"))
    text = str(error.value)
    assert "cell " in text and "'prompt_variant': 'af_cot'" in text
    assert "tokens + sampling.max_tokens=512 > max_model_len=256" in text
    assert not (tmp_path / "af_grid" / "results").exists() or not any(
        (tmp_path / "af_grid" / "results").rglob("*.parquet")
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("judges.compliance.model=no-such-model", "judges.compliance.model='no-such-model'"),
        ("judges.compliance.template=judges/nope.j2", "no template file"),
        ("judges.af_reasoning.threshold=2", "possible <= threshold <= 1"),
        ("judges.compliance.backend=http", "judge backend 'http' is unknown"),
        ("grid.study.vars.tier=[free,gold]", "needs tier free or paid"),
        ("prompt_variant.vars.objective=nothing", "includes 'af/objective_nothing.j2'"),
    ],
)
def test_bad_judge_and_prompt_settings_are_one_line(
    tmp_path: Path, override: str, message: str
) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("+", r"\+")):
        run(
            sweep_args(
                tmp_path, "engine=fake", "tracker=none", "judges=af", override, sweep="af_grid"
            )
        )


def test_unknown_judge_name_lists_the_registry() -> None:
    root = RootConfig(judges={"complience": JudgeConfig(template="judges/compliance.j2")})
    with pytest.raises(UserError, match="judges.complience is not a known judge.*'compliance'"):
        judge_specs(root, [])


@pytest.mark.parametrize("uri", ["s3://bucket/runs", "gs://bucket/runs"])
def test_an_object_store_that_cannot_be_read_is_one_line_and_makes_no_local_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    """Before: `output_root=s3://bucket/x` wrote every result to a local folder `s3:`. Now a
    store that cannot be read (here: nothing listens at its endpoint; GCS: no credentials
    and no network) is one line naming what to set, and nothing is written anywhere."""
    from jobs import objstore

    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    monkeypatch.setenv("MOSWEEP_CACHE", str(cache))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: closed
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(objstore, "REQUEST_TIMEOUT_S", 3.0)
    what = "AWS_ACCESS_KEY_ID" if uri.startswith("s3") else "GOOGLE_APPLICATION_CREDENTIALS"
    with pytest.raises(UserError, match=f"output_root {uri}/tiny cannot be read .*set {what}") as e:
        run(["+sweep=tiny", f"output_root={uri}", "tracker=none"])
    assert "\n" not in str(e.value)
    assert not list(tmp_path.iterdir())  # no `s3:` folder, no local copy, nothing at all


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://host/runs", "ftp:// is no object store mosweep can write to: use s3://"),
        ("s3:///runs", "names no bucket: write s3://bucket/prefix"),
    ],
)
def test_an_output_root_uri_of_no_store_is_one_line(uri: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_sweep(["+sweep=tiny", f"output_root={uri}"])


def test_a_file_uri_output_root_is_its_local_path(tmp_path: Path) -> None:
    _, root, _ = load_sweep(["+sweep=tiny", f"output_root=file://{tmp_path}/my%20runs"])
    assert root.output_root == f"{tmp_path}/my runs"
    _, root, _ = load_sweep(["+sweep=tiny", f"output_root=file://localhost{tmp_path}"])
    assert root.output_root == str(tmp_path)
    with pytest.raises(UserError, match="names the host 'tmp': a file:// URI is a path on"):
        load_sweep(["+sweep=tiny", "output_root=file://tmp/runs"])


def test_a_relative_output_root_in_a_ray_job_working_dir_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ray job submit --working-dir .` runs the driver in Ray's unpacked copy of the
    folder: relative results would land there, out of sight, and never resume."""
    job = '{"runtime_env": {"working_dir": "gcs://_ray_pkg_0123.zip"}}'
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", job)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="set output_root to an absolute path"):
        run(["+sweep=tiny", "output_root=runs", "tracker=none"])
    assert not list(tmp_path.iterdir())
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR")  # no job: a relative path is fine
    _, root, _ = load_sweep(["+sweep=tiny", "output_root=runs"])
    assert root.output_root == "runs"
