"""The local copy of a sweep folder on an object store (orchestrator/mirror.py), against a
real S3-compatible server on loopback."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from jobs import durable
from jobs.objstore import ObjectStore
from orchestrator.errors import UserError
from orchestrator.lease import LEASE
from orchestrator.manifest import MANIFEST
from orchestrator.mirror import Mirror
from orchestrator.store import ResultStore


def keys(uri: str) -> dict[str, bytes]:
    store = ObjectStore(uri)
    return {o.key: store.get_bytes(o.key) or b"" for o in store.listing()}


def test_a_shard_is_listed_on_the_store_before_it_is_there(bucket: str) -> None:
    import pyarrow as pa

    mirror = Mirror(bucket, "s")
    mirror.pull()
    order: list[str] = []
    put = mirror.store.put
    mirror.store.put = lambda local, key: (order.append(key), put(local, key))[1]  # type: ignore[method-assign]
    mirror.watch()
    try:
        ResultStore(mirror.local).write_shard("m", "a" * 12, 0, 2, pa.table({"x": [1, 2]}))
    finally:
        mirror.sync()
    shard = "results/model=m/aaaaaaaaaaaa_000000-000002.parquet"
    assert order == [MANIFEST, shard]
    on_store = keys(f"{bucket}/s")
    assert json.loads(on_store[MANIFEST])["file"] == shard
    assert on_store[shard] == (mirror.local / shard).read_bytes()


def test_pull_makes_the_local_copy_what_the_store_holds(bucket: str) -> None:
    first = Mirror(bucket, "s")
    first.pull()
    first.watch()
    durable.write_text(first.local / "a.txt", "one")
    durable.write_text(first.local / "b.txt", "two")
    first.sync()
    # Another machine rewrites a.txt with bytes of the same size and removes b.txt.
    store = ObjectStore(f"{bucket}/s")
    time.sleep(1.1)  # the store's clock has one-second steps
    store.put_bytes("a.txt", b"ONE")
    store.delete("b.txt")
    (first.local / "c.txt").write_text("left by a driver killed before it was sent")
    adapter = first.local / "artifacts" / "adapters" / "0123"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")  # trained, killed before it was sent
    again = Mirror(bucket, "s")
    assert again.pull() == 1
    assert (again.local / "a.txt").read_text() == "ONE"
    assert not (again.local / "b.txt").exists()
    assert not (again.local / "c.txt").exists()
    # Its emptied folder is gone too: an adapter folder that exists counts as trained.
    assert not (again.local / "artifacts").exists()


def test_a_file_set_aside_leaves_the_store_and_sync_keeps_what_another_wrote(bucket: str) -> None:
    mirror = Mirror(bucket, "s")
    mirror.pull()
    mirror.watch()
    bad = mirror.local / "results" / "model=m" / "aaaaaaaaaaaa_000000-000002.parquet"
    durable.write_file(bad, lambda p: p.write_bytes(b"not parquet"))
    ObjectStore(f"{bucket}/s").put_bytes("other.txt", b"sent by another writer since")
    ResultStore(mirror.local).quarantine(bad, "is not a whole Parquet file")
    durable.write_text(mirror.local / "events.jsonl", "{}\n")
    mirror.sync()
    on_store = keys(f"{bucket}/s")
    assert "results/model=m/aaaaaaaaaaaa_000000-000002.parquet" not in on_store
    assert any(k.startswith("quarantine/results/") for k in on_store)
    assert on_store["other.txt"] == b"sent by another writer since"
    assert on_store["events.jsonl"] == b"{}\n"


def lease(bucket: str, **fields: object) -> None:
    holder = {"host": "gpu-node-7", "pid": 4242, "token": "t", "heartbeat": time.time()}
    ObjectStore(f"{bucket}/s").put_bytes(LEASE, json.dumps({**holder, **fields}).encode())


def test_a_live_lease_is_one_line_naming_its_holder(bucket: str) -> None:
    lease(bucket)
    with pytest.raises(
        UserError, match=r"in use by another invocation \(host gpu-node-7, pid 4242"
    ):
        Mirror(bucket, "s").acquire()


@pytest.mark.parametrize(
    "holder",
    [
        {"heartbeat": time.time() - 3600},  # another machine's driver, silent for an hour
        {"host": socket.gethostname(), "pid": 2**22 + 1},  # this machine's, killed
    ],
)
def test_a_lease_left_by_a_dead_driver_is_taken_over(
    bucket: str, holder: dict[str, object]
) -> None:
    lease(bucket, **holder)
    mirror = Mirror(bucket, "s")
    mirror.acquire()
    try:
        found = json.loads(ObjectStore(f"{bucket}/s").get_bytes(LEASE) or b"{}")
        assert (found["host"], found["pid"]) == (socket.gethostname(), os.getpid())
    finally:
        mirror.release()
    assert LEASE not in keys(f"{bucket}/s")
