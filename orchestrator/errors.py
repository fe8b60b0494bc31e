"""The one user-facing error type: printed as one line, without a traceback.

Internal bugs raise ordinary exceptions so their tracebacks stay visible.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class UserError(Exception):
    """Bad input that the user can fix; the message names the fix."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix, or the list of choices when nothing is close."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose from: {', '.join(options)})" if options else ""


class NotWritten(OSError):
    """A write that failed (a full disk, a folder turned read-only) as the run stopped, with
    where the unfinished shards were listed instead (`record`; None: nowhere)."""

    def __init__(self, cause: OSError, record: Path | None) -> None:
        super().__init__(cause.errno, cause.strerror, cause.filename)
        self.record = record
