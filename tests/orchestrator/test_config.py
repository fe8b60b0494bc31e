"""Every sweep file composes and dry-runs; bad config gets one line that names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config.compose import CONF_DIR, Composer
from orchestrator.errors import UserError
from orchestrator.grid import expand
from orchestrator.run import run
from tests.conftest import sweep_args

SWEEPS = sorted(p.stem for p in (CONF_DIR / "sweep").glob("*.yaml"))


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_composes_and_dry_runs(
    sweep: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run(sweep_args(tmp_path, "mode=dry", sweep=sweep))
    out = capsys.readouterr().out
    assert report.cells >= 1
    assert f"sweep '{sweep}': {report.cells} cells" in out
    assert "dry run: nothing submitted" in out
    assert not (tmp_path / sweep).exists(), "a dry run writes nothing"


def test_smoke_sweep_shape() -> None:
    composer = Composer()
    try:
        overrides = ["+sweep=smoke"]
        cfg, root = composer.load(overrides)
        cells = expand(composer, overrides, cfg)
    finally:
        composer.close()
    # 2 variants x 2 audiences x 2 seeds over 12 prompts: what the README promises.
    assert len(cells) == 8
    assert {c.config.prompt_variant.name for c in cells} == {"plain", "concise"}
    assert {c.config.seed for c in cells} == {0, 1}
    assert all(len(c.dataset.prompts) == 12 for c in cells)
    assert root.model.source == "embedded"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("modle=tiny", "unknown config key 'modle' (did you mean 'mode'?)"),
        ("model=tiyn", "there is no model 'tiyn' in conf/model/ (did you mean 'tiny'?)"),
        (
            "sampling.max_tokns=3",
            "unknown config key 'sampling.max_tokns' (did you mean 'sampling.max_tokens'?)",
        ),
        ("sampling.max_tokens=abc", "bad value for 'sampling.max_tokens'"),
        ("sampling.n=0", "sampling.n must be >= 1"),
        ("sampling.stop=['']", "sampling.stop must be a list of non-empty strings"),
        ("mode=bogus", "mode='bogus' is unknown"),
        ("engine.device=tpu", "engine.device='tpu' is unknown"),
        ("grid.seed=3", "grid.seed must be a non-empty list"),
        (
            "+grid.sampling.temprature=[0,1]",
            "grid.sampling.temprature is not a config key or group (did you mean 'sampling.temperature'?)",
        ),
        ("grid.sed=[0,1]", "unknown config key 'grid.sed' (did you mean 'grid.seed'?)"),
        (
            "grid.prompt_varaint=[plain]",
            "unknown config key 'grid.prompt_varaint' (did you mean 'grid.prompt_variant'?)",
        ),
        (
            "+grid.ray.address=[a]",
            "grid.ray.address: 'ray' steers the run and cannot be a grid axis",
        ),
        ("dataset.source=jsonl", "does not exist: set dataset.path"),
        ("prompt_variant.user='{{ promt }}'", "uses an undefined variable ('promt' is undefined)"),
        ("model.source=s3", "model.source='s3' is unknown"),
    ],
)
def test_bad_config_is_one_line_naming_the_fix(override: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        run(sweep_args(tmp_path, "mode=dry", override))
    text = str(error.value)
    assert message in text
    assert "\n" not in text


def test_a_typo_in_a_study_axis_of_the_grid_gets_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(
        UserError,
        match=r"^unknown config key 'grid.study.backdor' \(did you mean 'grid.study.backdoor'\?\)$",
    ):
        run(sweep_args(tmp_path, "mode=dry", "grid.study.backdor=[x]", sweep="sa_grid"))


def test_missing_sweep_lists_the_sweeps(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no sweep chosen: add \+sweep=NAME, one of .*smoke.*tiny"):
        run([f"output_root={tmp_path}"])


def test_unknown_sweep_suggests_one(tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match="there is no sweep 'smok' in conf/sweep/ \\(did you mean 'smoke'\\?\\)"
    ):
        run(sweep_args(tmp_path, sweep="smok"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+foo=bar", "unknown config key 'foo' (choose from: dataset, engine, grid"),
        (
            "+model.revison=abc",
            "unknown config key 'model.revison' (did you mean 'model.revision'?)",
        ),
        ("tracker.name=mlflow", "tracker.name='mlflow' is unknown (choose from: none, wandb)"),
        ("engine.name=vllmm", "engine.name='vllmm' is unknown (did you mean 'vllm'?)"),
    ],
)
def test_added_keys_and_plugin_names_are_checked(
    override: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(UserError) as error:
        run(sweep_args(tmp_path, "mode=dry", override))
    assert message in str(error.value)


def test_free_form_study_vars_take_new_keys(tmp_path: Path) -> None:
    assert run(sweep_args(tmp_path, "mode=dry", "+study.vars.tier=free")).cells == 4
