"""One writer per sweep folder: an invocation that writes (mode=run, judge, judge_eval)
holds an exclusive lock on `<sweep>/.lock` until it ends.

Without it a second terminal or a re-submitted cluster job on the same folder stores every
row twice (another shard_size gives other file names) or races on the same temporary names,
and its start-up deletes the first one's temporary files. The lock is `flock`, which the
kernel drops when the process dies (no stale lock after a crash or kill -9) and which Linux
NFS clients map onto NFS byte-range locks, so it holds across the machines of a cluster.
Where the filesystem has no locks at all, the invocation stops with one line instead of
running unprotected. mode=status, dry and report only read, and take no lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

from orchestrator.errors import UserError

LOCK_FILE = ".lock"


class SweepLock:
    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or say, in one line, who holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a `.lock` that is a link is refused, never truncated through.
            flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
            handle = os.fdopen(os.open(self.path, flags, 0o644), "a+")
        except OSError as e:
            raise UserError(
                f"cannot write to {self.path.parent} ({e.strerror}): set output_root to a "
                "writable folder"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            handle.seek(0)
            holder = handle.read()
            handle.close()
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UserError(
                    f"sweep folder {self.path.parent} is in use by {describe(holder)}: wait for "
                    "it to finish or stop it (mode=status and mode=report work meanwhile)"
                ) from None
            raise UserError(
                f"cannot lock sweep folder {self.path.parent} ({e.strerror}): its filesystem "
                "has no file locks; set output_root to a local or NFS folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        handle.write(json.dumps(me))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def describe(holder: str) -> str:
    """`host H, pid P, since YYYY-MM-DD HH:MM:SS UTC` from the lock file's text."""
    try:
        info = json.loads(holder)
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info["since"])))
        return f"another invocation (host {info['host']}, pid {info['pid']}, since {since})"
    except (ValueError, KeyError, TypeError):
        return "another invocation"
