"""The one writer of a sweep folder on an object store: a lease object, `.lease.json`.

Object stores have no file locks, so the driver that writes holds a lease (host, pid, a
heartbeat every HEARTBEAT_S): another driver finding a lease younger than LEASE_TTL_S stops
with one line naming its holder. A lease left by a killed driver on this host is taken over
at once (its pid is gone); one from another host expires after LEASE_TTL_S. Two drivers
starting within the same second could both write a lease: each reads it back after
SETTLE_S, and the one that is not the holder stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from typing import Any

from jobs.objstore import ObjectStore
from orchestrator.errors import UserError

LEASE = ".lease.json"
LEASE_TTL_S = 300.0
HEARTBEAT_S = 60.0
SETTLE_S = 1.0


class Lease:
    """Held by the Mirror of a sweep folder (its `store` and `uri`)."""

    store: ObjectStore
    uri: str
    _heartbeat: threading.Event | None
    _me: str

    def acquire(self) -> None:
        """Hold the sweep's lease on the store, or say in one line who does."""
        holder = self._lease()
        if holder is not None and _live(holder):
            raise UserError(in_use(self.uri, holder))
        self._me = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex}
        )
        self._beat()
        time.sleep(SETTLE_S)  # a driver that wrote its lease in the same second shows now
        holder = self._lease()
        if holder is None or holder.get("token") != json.loads(self._me)["token"]:
            raise UserError(in_use(self.uri, holder or {}))
        stop = self._heartbeat = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                with contextlib.suppress(OSError):
                    self._beat()

        threading.Thread(target=beat, name="mosweep-lease", daemon=True).start()

    def _beat(self) -> None:
        lease = {**json.loads(self._me), "heartbeat": time.time()}
        self.store.put_bytes(LEASE, json.dumps(lease).encode())

    def _lease(self) -> dict[str, Any] | None:
        raw = self.store.get_bytes(LEASE)
        try:
            found = json.loads(raw) if raw else None
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def release(self) -> None:
        if self._heartbeat is None:
            return
        self._heartbeat.set()
        self._heartbeat = None
        with contextlib.suppress(OSError):
            self.store.delete(LEASE)


def _live(holder: dict[str, Any]) -> bool:
    """Whether a lease found on the store still holds the sweep."""
    age = time.time() - float(holder.get("heartbeat", 0))
    if age > LEASE_TTL_S:
        return False
    if holder.get("host") == socket.gethostname():  # a driver of this machine: is it alive?
        try:
            os.kill(int(holder.get("pid", 0)), 0)
        except ProcessLookupError:
            return False
        except (PermissionError, ValueError):
            return True
    return True


def in_use(uri: str, holder: dict[str, Any]) -> str:
    age = time.time() - float(holder.get("heartbeat", time.time()))
    who = f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}"
    return (
        f"sweep folder {uri} is in use by another invocation ({who}, last heard {age:.0f} s "
        f"ago): wait for it to finish; if it was killed on another machine, its lease expires "
        f"{LEASE_TTL_S:.0f} s after that (or delete {uri}/{LEASE})"
    )
