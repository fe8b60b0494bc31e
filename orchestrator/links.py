"""No symbolic link inside a sweep folder is ever followed.

Sweep folders travel by tar and rsync, which keep links. The tool writes, truncates, appends
to and deletes files in its folder (the report's figures, the lock, the event log, shard
temporaries): through a link, each of those would reach a file outside the folder, so a
planted `report -> ~/paper/figures` would have a rebuild delete the paper's figures. Every
invocation therefore looks first, and stops with one line naming the link when it finds one.

Two folders belong to libraries that make links of their own and only ever add files: W&B's
offline runs (`wandb/latest-run`) and Ray's session folder (`.ray/session_latest`). Their
own names must still be real folders; what is inside them is theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import UserError

# Folders of the sweep whose insides other libraries write (links included).
THIRD_PARTY = frozenset({"wandb", ".ray"})


def first_link(sweep_dir: Path) -> Path | None:
    """The first symbolic link in the parts of `sweep_dir` the tool writes, or None."""
    if not sweep_dir.is_dir():
        return None
    for entry in os.scandir(sweep_dir):
        if entry.is_symlink():
            return Path(entry.path)
        if entry.name not in THIRD_PARTY and entry.is_dir(follow_symlinks=False):
            # os.walk does not descend into links (followlinks=False) but lists them among
            # a folder's entries, which is where they are caught.
            for folder, dirs, files in os.walk(entry.path):
                for name in [*dirs, *files]:
                    if os.path.islink(os.path.join(folder, name)):
                        return Path(folder) / name
    return None


def refuse_links(sweep_dir: Path) -> None:
    """Stop before anything is read or written when the sweep folder holds a link."""
    link = first_link(sweep_dir)
    if link is not None:
        raise UserError(
            f"{link} is a symbolic link (to {os.readlink(link)}): mosweep never writes through "
            "links in a sweep folder; replace it with a real file or folder (or delete it) and "
            "re-run"
        )
