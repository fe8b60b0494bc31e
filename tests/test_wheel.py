"""The package as a researcher installs it: the wheel, in a fresh virtual environment, used
from another folder. Its configs and templates ship inside it, `mosweep` is a command, and a
folder of the user's own configs adds a model and a sweep without touching the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel built from this checkout's files; the
    third-party packages come from this environment (a .pth line: no download)."""
    root = tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    source = root / "source"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-q", "-w", str(root)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    fresh = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(root.glob("mosweep-*.whl"))
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return fresh


def mosweep(venv: Path, folder: Path, *argv: str) -> str:
    done = subprocess.run(
        [venv / "bin" / "mosweep", *argv],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(folder), "CI": "true"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_the_installed_command_runs_from_another_folder(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import orchestrator; print(orchestrator.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), where  # the wheel's code, not the checkout's
    out = mosweep(installed, tmp_path, "+sweep=smoke", "mode=dry", f"output_root={tmp_path}")
    assert "sweep 'smoke': 8 cells, 16 shards" in out and "dry run: nothing submitted" in out
    cfg = yaml.safe_load(mosweep(installed, tmp_path, "--cfg", "job", "+sweep=af_grid"))
    assert cfg["sweep"]["name"] == "af_grid" and cfg["study"]["name"] == "alignment_faking"


def test_a_config_folder_adds_a_model_and_a_sweep(installed: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my_conf"
    (mine / "model").mkdir(parents=True)
    (mine / "sweep").mkdir()
    model = yaml.safe_load((REPO / "conf" / "model" / "tiny.yaml").read_text())
    (mine / "model" / "my-tiny.yaml").write_text(yaml.safe_dump({**model, "name": "my-tiny"}))
    (mine / "sweep" / "mine.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /model: my-tiny\n  - override /dataset: smoke\n"
        "sweep:\n  name: mine\n"
        "grid:\n  seed: [0, 1, 2]\n"
    )
    out = mosweep(
        installed,
        tmp_path,
        "--config-dir",
        str(mine),
        "+sweep=mine",
        "mode=dry",
        f"output_root={tmp_path}",
    )
    assert "sweep 'mine': 3 cells" in out and "models: my-tiny" in out
    assert "mine" in mosweep(installed, tmp_path, "--config-dir", str(mine), "--help")
