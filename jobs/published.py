"""Outputs of training jobs on machines that share no folder, when the sweep folder is on
an object store (orchestrator/mirror.py).

A training job writes its adapter on the machine it runs on (`node_dir()`), then publishes
it: every file goes to the store under the adapter's key, and last a marker,
`<key>/.published.json`, naming each file's SHA-256 and the adapter's content hash. An
adapter without its marker is not published (a job killed mid-upload left it): nothing
reads it, and the job runs again.

An engine that serves an adapter it does not have fetches it into this machine's cache,
`node_dir()/adapters/<content hash>/`, once per machine: the files are checked against the
marker and the folder is put in place whole (jobs/durable.py), so a second engine on the
same machine finds it complete, or fetches it again and keeps the first.

A training job's checkpoints go to the store too (`Checkpoints`): a job retried on another
machine resumes from the last one sent.

Each node's folder is `$MOSWEEP_NODE_DIR` (set it where a node starts: Slurm's `$TMPDIR`,
a pod's `emptyDir`), else a folder of this user in the system's temporary folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from jobs import durable
from jobs.objstore import ObjectStore

MARKER = ".published.json"
# The engines' environment (orchestrator/workers.py): the sweep's store, and the folder its
# adapters' paths are under in the driver's copy.
STORE_ENV, ROOT_ENV = "MOSWEEP_STORE", "MOSWEEP_STORE_ROOT"


def node_dir() -> Path:
    found = os.environ.get("MOSWEEP_NODE_DIR")
    if found:
        return Path(found).expanduser()
    return Path(tempfile.gettempdir()) / f"mosweep-node-{os.getuid()}"


def publish(store: ObjectStore, key: str, folder: Path) -> str:
    """Send a finished output folder to the store, marker last; returns its content hash."""
    files = {
        p.relative_to(folder).as_posix(): durable.sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
    for name in files:
        store.put(folder / name, f"{key}/{name}")
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    store.put_bytes(f"{key}/{MARKER}", json.dumps({"digest": digest, "files": files}).encode())
    return digest


def marker(store: ObjectStore, key: str) -> tuple[str, dict[str, Any]] | None:
    """(the published folder's key, its marker) for `key` or the folder holding it (an RL
    step's adapter is a subfolder of its job's output); None when nothing is published."""
    path = PurePosixPath(key)
    for folder in [path, *path.parents][:3]:
        raw = store.get_bytes(f"{folder}/{MARKER}")
        if raw is not None:
            return str(folder), json.loads(raw)
    return None


def fetch(store: ObjectStore, key: str) -> Path:
    """This machine's copy of a published adapter (or a subfolder of one), fetched once."""
    found = marker(store, key)
    if found is None:
        raise FileNotFoundError(f"{store.uri}/{key} is not published (no {MARKER})")
    folder, published = found
    target = node_dir() / "adapters" / str(published["digest"])
    if not target.is_dir():
        # FileExistsError: another engine of this machine put it in place first
        with contextlib.suppress(FileExistsError):
            download(store, folder, published, target)
    return target / PurePosixPath(key).relative_to(folder)


def download(store: ObjectStore, folder: str, published: dict[str, Any], target: Path) -> None:
    """A published folder put in place whole at `target` (which must not exist), each
    file checked against its marker; FileExistsError when `target` appeared meanwhile."""
    staging = durable.staging_folder(target.with_name(f"{target.name}.{os.getpid()}"))
    try:
        for name, sha in published["files"].items():
            local = staging / name
            local.parent.mkdir(parents=True, exist_ok=True)
            store.get(f"{folder}/{name}", local)
            if durable.sha256(local) != sha:
                raise OSError(f"{store.uri}/{folder}/{name} does not match its {MARKER}")
        try:
            durable.publish_folder(staging, target)
        except OSError:
            if target.is_dir():
                raise FileExistsError(target) from None
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve(adapter: str) -> str:
    """An engine's path for an adapter: the driver's path of an adapter of a sweep on an
    object store is fetched into this machine's cache; any other path is used as it is."""
    uri, root = os.environ.get(STORE_ENV), os.environ.get(ROOT_ENV)
    if not uri or not root or not Path(adapter).is_relative_to(root):
        return adapter
    return str(fetch(ObjectStore(uri), Path(adapter).relative_to(root).as_posix()))


@dataclass(frozen=True)
class Placement:
    """Where a training job's output goes when the sweep folder is on an object store: the
    driver's copy of the sweep folder (`root`, which the job's paths are under) maps onto
    the store (`uri`) and onto this machine's node folder."""

    uri: str
    root: str

    def local(self, path: str) -> str:
        relative = Path(path).relative_to(self.root)
        tag = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        return str(node_dir() / "sweeps" / tag / relative)

    def key(self, path: str) -> str:
        return Path(path).relative_to(self.root).as_posix()


class Checkpoints:
    """A training job's checkpoints through the store, so a job retried on another machine
    resumes where it stopped. Each time the job puts a checkpoint in place (durable
    announces it), its whole work folder is sent as a new version, `<key>/<n>/` with its
    marker, then the pointer `<key>/latest.json` names it, then the version before is
    deleted: the pointer always names a complete version."""

    def __init__(self, store: ObjectStore, key: str, work: Path) -> None:
        self.store, self.key, self.work = store, key, work
        self.sent = 0
        # the version latest.json names (this job is its only writer)
        raw = store.get_bytes(f"{key}/latest.json")
        self.version: str | None = json.loads(raw)["version"] if raw else None

    def restore(self) -> bool:
        """This machine's work folder from the latest version sent, if it has none."""
        if self.version is None or self.work.exists():
            return False
        version = f"{self.key}/{self.version}"
        found = marker(self.store, version)
        if found is None:
            return False
        download(self.store, version, found[1], self.work)
        return True

    def published(self, path: Path) -> None:
        if not path.is_relative_to(self.work) or not self.work.is_dir():
            return
        before, version = self.version, uuid.uuid4().hex[:12]
        staging = Path(tempfile.mkdtemp(prefix="mosweep-work-"))
        try:  # a copy: the job goes on writing its folder (skipping unfinished dot-names)
            shutil.copytree(
                self.work, staging / "w", ignore=lambda _, names: [n for n in names if n[0] == "."]
            )
            publish(self.store, f"{self.key}/{version}", staging / "w")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.store.put_bytes(f"{self.key}/latest.json", json.dumps({"version": version}).encode())
        self.version = version
        self.sent += 1
        if before:
            self.drop(f"{self.key}/{before}")

    def removed(self, path: Path) -> None:
        return None

    def drop(self, prefix: str | None = None) -> None:
        """Delete a version (by default: every version and the pointer, once done)."""
        for listed in self.store.listing(prefix or self.key):
            self.store.delete(listed.key)


def train_here(
    function: Any, placement: Placement, spec: Any, secrets: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a training job (`function(spec, secrets)`, whose spec names `output`, `work` and
    maybe `init_adapter` as the driver's paths) on this machine's folder: the adapter it
    continues is fetched, its output written here and published to the store."""
    os.environ.update(secrets or {})
    store = ObjectStore(placement.uri)
    changes: dict[str, Any] = {
        "output": placement.local(spec.output),
        "work": placement.local(spec.work),
    }
    if getattr(spec, "init_adapter", None):
        changes["init_adapter"] = str(fetch(store, placement.key(spec.init_adapter)))
    checkpoints = Checkpoints(store, placement.key(spec.work), Path(changes["work"]))
    restored = checkpoints.restore()
    durable.WATCHERS.append(checkpoints)
    try:
        result: dict[str, Any] = function(replace(spec, **changes), secrets)
    finally:
        durable.WATCHERS.remove(checkpoints)
    digest = publish(store, placement.key(spec.output), Path(changes["output"]))
    checkpoints.drop()  # the output is published: its checkpoints are no longer needed
    return {**result, "published": digest, "checkpoints_sent": checkpoints.sent} | (
        {"restored_from_store": True} if restored else {}
    )
