"""The command line's own output: `--help` names every mode and ends quietly when its
reader stops early (`python -m orchestrator --help | head`)."""

from __future__ import annotations

import os
import subprocess
import sys

from orchestrator.cli_output import USAGE
from orchestrator.config.schema import MODES
from tests.conftest import REPO


def test_help_names_every_mode() -> None:
    assert all(f"mode={mode}" in USAGE for mode in MODES)


def test_help_into_a_closed_pipe_exits_0_without_a_traceback() -> None:
    """What `| head` does, made certain: the reading end is closed before the help is
    printed (on the old code: exit 1 and a BrokenPipeError traceback)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "orchestrator", "--help"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")
