"""Hydra's command-line flags on mosweep's command: --cfg, --package, --info, --help, -m,
--config-dir and shell completion, each answered without running anything, and a flag it
does not take as one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.__main__ import main
from orchestrator.cli import parse
from orchestrator.cli_output import BASH, complete
from orchestrator.errors import UserError
from tests.conftest import REPO


def answer(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cfg_job_prints_the_composed_config_a_run_would_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = answer(capsys, "--cfg", "job", "+sweep=af_grid", "seed=3")
    cfg = yaml.safe_load(out)
    assert code == 0 and cfg["sweep"]["name"] == "af_grid" and cfg["seed"] == 3
    assert cfg["study"]["name"] == "alignment_faking" and "hydra" not in cfg
    assert cfg["grid"]["study"]["vars"]["tier"] == ["free", "paid"]
    _, out, _ = answer(capsys, "--cfg", "all", "+sweep=af_grid", "--package", "sampling")
    assert out.startswith("# @package sampling\n") and yaml.safe_load(out)["max_tokens"] == 512
    _, out, _ = answer(capsys, "--cfg=hydra", "+sweep=tiny", "-p", "hydra.job.name")
    assert out == "# @package hydra.job.name\napp\n"


def test_help_lists_what_the_config_folders_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = answer(capsys, "--help")
    assert code == 0 and "usage: mosweep +sweep=NAME" in out
    listed = {
        line.split(" (")[0]: out.split(line)[1].split("\n")[1]
        for line in out.splitlines()
        if line.endswith("):")
    }
    for group, title in (("sweep", "sweeps"), ("model", "models"), ("dataset", "data sets")):
        names = sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))
        assert listed[title].strip() == ", ".join(names)
    assert "af_cot" in listed["prompt variants"]


def test_info_shows_the_search_path_and_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "my-model.yaml").write_text("name: my-model\n")
    assert answer(capsys, "--info", "--config-dir", str(tmp_path))[0] == 0
    _, out, _ = answer(capsys, "--info", "--config-dir", str(tmp_path))
    lines = out.splitlines()
    assert lines[1] == f"  file://{REPO / 'conf'}" and lines[2] == f"  file://{tmp_path}"
    assert "my-model" in next(line for line in lines if line.startswith("  model:"))


def test_m_turns_a_list_of_values_into_a_grid_axis(capsys: pytest.CaptureFixture[str]) -> None:
    command = parse(["-m", "+sweep=tiny", "seed=0,1,2", "sampling.temperature=0.0,0.5", "x=[1,2]"])
    assert command.overrides == [
        "+sweep=tiny",
        "++grid.seed=[0,1,2]",
        "++grid.sampling.temperature=[0.0,0.5]",
        "x=[1,2]",  # one value, a list: not a sweep
    ]
    _, out, _ = answer(capsys, "-m", "--cfg", "job", "+sweep=tiny", "seed=0,1,2")
    assert yaml.safe_load(out)["grid"]["seed"] == [0, 1, 2]
    code, _, err = answer(capsys, "+sweep=tiny", "seed=0,1")
    assert code == 2 and err == (
        "error: seed=0,1 gives seed several values: add -m to sweep them as a grid axis, "
        "or write '+grid.seed=[0,1]'\n"
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--bogus"], "--bogus: not an option mosweep takes; it takes --help, --info"),
        (["--cfg"], "--cfg needs a value, e.g. --cfg job"),
        (["--cfg", "everything"], "--cfg everything: use --cfg job, --cfg hydra or --cfg all"),
        (["--config-dir", "/no/such/dir"], "--config-dir /no/such/dir: no such folder"),
        (["-sc", "install=fish"], "use --shell-completion install=bash"),
        (["--cfg", "job", "+sweep=tiny", "-p", "nope"], "the composed config has no key nope"),
    ],
)
def test_a_bad_flag_is_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = answer(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err


def test_a_user_config_named_like_a_shipped_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tiny.yaml").write_text("name: tiny\n")
    with pytest.raises(UserError, match="has the name of a shipped config .model/tiny.yaml."):
        parse(["--config-dir", str(tmp_path)])


def test_completion_offers_groups_options_and_flags() -> None:
    command = parse([])
    assert complete(command, "model=sm") == ["model=smollm2-135m"]
    assert "+sweep=af_grid" in complete(command, "+sweep=af_")
    assert complete(command, "mode=st") == ["mode=status"]
    assert "--cfg" in complete(command, "--c") and "--complete" not in complete(command, "--c")
    assert "prompt_variant=" in complete(command, "pro")


def test_the_bash_script_completes_a_word_in_bash(tmp_path: Path) -> None:
    """The script as bash runs it: the command's answer, cut where bash splits the word."""
    script = tmp_path / "complete.sh"
    script.write_text(
        BASH + 'COMP_LINE="mosweep +sweep=af_gr"; COMP_POINT=${#COMP_LINE}; _mosweep\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.stdout.split() == ["af_grid"], done.stderr
