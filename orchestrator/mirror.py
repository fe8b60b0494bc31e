"""A sweep folder on an object store (`output_root=s3://bucket/prefix`), worked on through a
local copy on the driver's machine.

Every reader and writer of the tool works on files; so the driver pulls the sweep's objects
into a local folder before anything reads them, and sends each file on as soon as it is
final (jobs/durable.py announces it), then, at the end of the invocation, anything else
that changed (the event log, the report, caches) and the removal of what was set aside.
The local copy is a cache: `$MOSWEEP_CACHE/stores/<hash of output_root>/<sweep>`, kept
between invocations so a resume downloads only what changed; deleting it loses nothing.

The guarantees of a local sweep folder, kept without a rename:
- *Complete or absent.* A PUT is atomic: an object appears whole, under its final key.
- *Listed before it exists.* A shard's line in manifest.jsonl is sent before the shard
  (the manifest is announced before the rename that announces the shard; its new lines go
  as a part: orchestrator/mirror_manifest.py), so a kill between the two leaves a line
  without a file, which lists nothing (the shard runs again), and never a file without
  its line.
- *One writer.* Object stores have no file locks: the driver holds a lease object
  (orchestrator/lease.py).
Checkpoints of unfinished training (`artifacts/work/`) are not in this copy: the training
job sends them to the store itself (jobs/published.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from jobs import durable
from jobs.objstore import Listed, ObjectStore
from orchestrator.errors import UserError
from orchestrator.lease import Lease
from orchestrator.manifest import MANIFEST
from orchestrator.mirror_manifest import PARTS, ManifestParts

# What the local copy holds: key -> the object's size and version, and the local file's
# modification time when it was pulled or sent (a local file changed since is sent again).
STATE = ".mirror.json"
# Not sent file by file: checkpoints (the training job sends them: jobs/published.py), and
# the manifest's new lines (sent as parts: ManifestParts)
NOT_SENT = ("artifacts/work", f"{PARTS}/")


def is_remote(output_root: str) -> bool:
    """Whether output_root names an object store (a file:// URI is a path by then)."""
    return "://" in output_root


def local_folder(output_root: str, sweep: str, writer: bool = True) -> Path:
    """Where the local copy of a remote sweep folder lives on this machine. Invocations
    that only read (mode=status, dry, report) pull into a copy of their own, so they never
    touch the files of a run going on in this machine's writing copy."""
    from orchestrator.models import cache_dir

    tag = hashlib.sha256(output_root.rstrip("/").encode()).hexdigest()[:16]
    return cache_dir() / "stores" / tag / ("write" if writer else "read") / sweep


def sent(key: str) -> bool:
    """Whether a file of the sweep folder goes to the store: not a dot-name anywhere in its
    path (temporaries, the lock, Ray's folder, this copy's state), not a checkpoint."""
    parts = PurePosixPath(key).parts
    return not any(p.startswith(".") for p in parts) and not key.startswith(NOT_SENT)


class Mirror(Lease, ManifestParts):
    def __init__(self, output_root: str, sweep: str, writer: bool = True) -> None:
        self.uri = f"{output_root.rstrip('/')}/{sweep}"
        self.local = local_folder(output_root, sweep, writer)
        self._heartbeat: threading.Event | None = None
        self._me = ""
        try:
            self.store = ObjectStore(self.uri)
            self.remote = {o.key: o for o in self.store.listing()}
        except (OSError, ValueError) as e:
            raise UserError(unreachable(self.uri, e)) from None
        self.state: dict[str, Any] = {}
        self.parts: list[str] = []  # the manifest's parts on the store, merged by sync()
        self.manifest_sent = 0  # bytes of the local manifest on the store

    # -- reading ---------------------------------------------------------------------------

    def pull(self, only: tuple[str, ...] = ("",)) -> int:
        """Make the local copy what the store holds; returns the files downloaded. A local
        file the store does not have (removed there, or written by a driver killed before
        it was sent) is deleted: the store is the truth, and its shard runs again. `only`:
        the keys' prefixes to pull (a reader of rows leaves the adapters on the store)."""
        self.local.mkdir(parents=True, exist_ok=True)
        self.state = _read_state(self.local / STATE)
        for path in _files(self.local):
            key = path.relative_to(self.local).as_posix()
            if sent(key) and key.startswith(only) and key not in self.remote:
                path.unlink()
                self.state.pop(key, None)
        _prune(self.local)  # an adapter folder emptied so would pass for a finished one
        wanted = [listed for key, listed in self.remote.items() if key.startswith(only)]
        fetched = self._download(wanted)
        self.merge_parts()
        self._save_state()
        return fetched

    def fetch(self, prefix: str) -> int:
        """Bring what the store holds under `prefix` (an adapter a worker published) into
        the local copy; returns the files downloaded."""
        fetched = self._download(self.store.listing(prefix))
        self._save_state()
        return fetched

    def _download(self, listing: list[Listed]) -> int:
        fetched = 0
        for listed in listing:
            key = listed.key
            if not sent(key) or self._current(key, listed):
                continue
            target = self.local / key
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                self.store.get(key, temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            self._remember(key, listed)
            fetched += 1
        return fetched

    def _current(self, key: str, listed: Listed | None) -> bool:
        """Whether the local file is the last one pulled or sent for this key, unchanged
        since, and the store's object (`listed`, when given) is still that version."""
        path, known = self.local / key, self.state.get(key)
        if known is None or not path.is_file():
            return False
        if listed is not None and [listed.size, listed.mtime_ns] != known["object"]:
            return False
        return bool(path.stat().st_mtime_ns == known["local_mtime_ns"])

    def _remember(self, key: str, listed: Listed | None = None) -> None:
        """Note that the local file and the object `listed` (by default: asked for, as
        after a put) are the same bytes."""
        listed = listed or self.store.stat(key)
        assert listed is not None, f"{key} was just sent"
        local = (self.local / key).stat().st_mtime_ns
        self.state[key] = {"object": [listed.size, listed.mtime_ns], "local_mtime_ns": local}
        self.remote[key] = listed

    def _save_state(self) -> None:
        with contextlib.suppress(OSError):  # only a cache of what was downloaded
            durable.write_file(
                self.local / STATE, lambda p: p.write_text(json.dumps(self.state), "utf-8")
            )

    # -- writing (a Watcher of jobs/durable.py) --------------------------------------------

    def published(self, path: Path) -> None:
        key = self._key(path)
        if key is None:
            return
        if path.is_dir():
            for file in _files(path):
                self.published(file)
        elif key == MANIFEST:
            self.send_lines()
        elif path.is_file() and not path.is_symlink() and sent(key):
            self.store.put(path, key)
            self._remember(key)

    def removed(self, path: Path) -> None:
        key = self._key(path)
        if key is not None and sent(key):
            self.store.delete(key)
            self.remote.pop(key, None)
            self.state.pop(key, None)

    def _key(self, path: Path) -> str | None:
        path = Path(os.path.abspath(path))
        return path.relative_to(self.local).as_posix() if path.is_relative_to(self.local) else None

    def watch(self) -> None:
        """Send every file put in place from now on."""
        durable.WATCHERS.append(self)

    def sync(self) -> int:
        """Send what changed and was not sent yet (the event log, the report, caches) and
        delete from the store what this copy no longer has (a file set aside, a figure a
        rebuild dropped); returns the files sent."""
        if self in durable.WATCHERS:
            durable.WATCHERS.remove(self)
        count = 0
        present = set()
        for path in _files(self.local):
            key = path.relative_to(self.local).as_posix()
            if not sent(key):
                continue
            present.add(key)
            if not self._current(key, None):
                self.store.put(path, key)
                self._remember(key)
                count += 1
        # Only what this copy had: an object another writer sent since is not ours to drop.
        for key in sorted(set(self.state) - present):
            self.store.delete(key)
            self.remote.pop(key, None)
            self.state.pop(key)
        self.drop_parts()  # the whole manifest is on the store now
        self._save_state()
        return count


def active() -> Mirror | None:
    """The mirror of this invocation's sweep folder, when it is on an object store."""
    return next((w for w in durable.WATCHERS if isinstance(w, Mirror)), None)


def unreachable(uri: str, error: BaseException) -> str:
    """One line: why the store cannot be read and what to set."""
    scheme = uri.split("://", 1)[0].lower()
    reason = " ".join(str(error).split())
    if len(reason) > 200:
        reason = reason[:200] + "..."
    if scheme == "s3":
        what = (
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_REGION, "
            "and AWS_ENDPOINT_URL for an S3-compatible server (MinIO, Ceph)"
        )
    elif scheme in ("gs", "gcs"):
        what = "set GOOGLE_APPLICATION_CREDENTIALS (or run `gcloud auth application-default login`)"
    else:
        what = "use s3:// or gs://, a local path, or a shared filesystem every node mounts"
    return f"output_root {uri} cannot be read ({reason}): {what}"


def _files(folder: Path) -> list[Path]:
    """The plain files under `folder`, outside dot-folders (Ray's sockets and logs) and
    never through a link (os.walk does not follow them; a link is never sent)."""
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(parent) / f for f in files if not os.path.islink(os.path.join(parent, f))]
    return sorted(found)


def _prune(folder: Path) -> None:
    """Remove the empty folders under `folder` (not dot-folders, not `folder` itself)."""
    for parent, dirs, _ in os.walk(folder, topdown=False):
        for name in dirs:
            path = Path(parent) / name
            if not any(part.startswith(".") for part in path.relative_to(folder).parts):
                with contextlib.suppress(OSError):  # not empty
                    path.rmdir()


def _read_state(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
