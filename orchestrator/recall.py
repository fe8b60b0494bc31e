"""A sweep folder knows the command that wrote it.

Every run saves its overrides (`command.json`, beside config.yaml). `mode=status`,
`mode=report` and `mode=judge` given nothing but what finds the folder (`+sweep=NAME`,
`output_root=...`, the mode, the tracker) compose the folder's own config from them, so a
folder made with `'grid.seed=[0,1,2]' dataset.limit=500` reports its cells without the user
typing those again. A run, given other overrides, says which cells are new to the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.cli import override_key
from orchestrator.grid import Cell

SAVED = "command.json"
# what names the folder and the invocation, not the cells
LOCATING = ("sweep", "output_root", "mode", "tracker", "ray", "hydra")
RECALLING = ("status", "report", "judge")  # the modes that read a folder's own config


def saved_command(overrides: list[str]) -> dict[str, list[str]]:
    """What a run saves: its overrides, but for the mode (a later status call picks its own)."""
    return {"overrides": [o for o in overrides if override_key(o) != "mode"]}


def recalled(sweep_dir: Path, overrides: list[str]) -> list[str] | None:
    """The folder's saved overrides with these after them (these win), when these only
    locate the folder; else None (the user asked for something else: theirs stand)."""
    path = sweep_dir / SAVED
    if not path.is_file() or not all(override_key(o).split(".")[0] in LOCATING for o in overrides):
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["overrides"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return None  # unreadable: compose from the command line alone, as before
    if not isinstance(saved, list) or not all(isinstance(o, str) for o in saved):
        return None
    given = {override_key(o) for o in overrides}
    return [*(o for o in saved if override_key(o) not in given), *overrides]


def new_cells_line(before: set[str] | None, now: list[str], cells: list[Cell]) -> str | None:
    """One line naming the cells of this run that the folder's last grid did not have, or
    None when there are none (or no last grid)."""
    if before is None:
        return None
    new = [c for c in now if c not in before]
    if not new:
        return None
    labels = {cell.id: " ".join(f"{k}={v}" for k, v in cell.axes.items()) for cell in cells}
    named = "; ".join(f"{c} ({labels[c]})" if labels.get(c) else c for c in new[:5])
    more = f"; and {len(new) - 5} more" if len(new) > 5 else ""
    kept = len(before & set(now))
    return (
        f"cells: {len(new)} new to this folder (its last grid had {len(before)}, {kept} of "
        f"them in this one): {named}{more}"
    )
