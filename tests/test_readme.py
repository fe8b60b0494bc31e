"""The README is the front door: every shipped config is in its tables, and every sweep
in conf/sweep/ has a line that says what it runs."""

from __future__ import annotations

import re
from fnmatch import fnmatch

from tests.conftest import REPO

GROUPS = ("model", "engine", "dataset", "prompt_variant", "study", "judges", "tracker")


def table_row(text: str, first_cell: str) -> str:
    found = re.search(rf"^\| {re.escape(first_cell)} \|(.*)$", text, re.M)
    assert found, f"README has no table row for {first_cell}"
    return found.group(1)


def test_every_config_file_of_a_group_is_in_the_configs_table() -> None:
    text = (REPO / "README.md").read_text()
    missing = []
    for group in GROUPS:
        files = table_row(text, f"`{group}/`").split("|")[0]
        listed = re.findall(r"`([^`]+)`", files)
        for path in sorted((REPO / "conf" / group).glob("*.yaml")):
            if not any(fnmatch(path.stem, name) for name in listed):
                missing.append(f"{group}/{path.name}")
    assert missing == []


def test_every_sweep_has_a_line_in_the_sweeps_table() -> None:
    text = (REPO / "README.md").read_text()
    sweeps = sorted(p.stem for p in (REPO / "conf" / "sweep").glob("*.yaml"))
    assert len(sweeps) >= 11
    assert [s for s in sweeps if not re.search(rf"^\| `{s}` \| \w", text, re.M)] == []
