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


def test_a_shard_is_listed_on_the_store_before_it_is_there_and_the_manifest_sent_once(
    bucket: str,
) -> None:
    """Each shard's manifest line reaches the store (as a part) before the shard, and the
    manifest's bytes sent grow with its lines: before, the whole manifest went again with
    every shard (quadratic in the number of shards)."""
    import pyarrow as pa

    mirror = Mirror(bucket, "s")
    mirror.pull()
    order: list[tuple[str, int]] = []
    put, put_bytes = mirror.store.put, mirror.store.put_bytes
    mirror.store.put = lambda local, key: (
        order.append((key, local.stat().st_size)),
        put(local, key),
    )[1]  # type: ignore[method-assign]
    mirror.store.put_bytes = lambda key, data: (
        order.append((key, len(data))),
        put_bytes(key, data),
    )[1]  # type: ignore[method-assign]
    mirror.watch()
    store = ResultStore(mirror.local)
    try:
        for i in range(40):
            store.write_shard("m", "a" * 12, 2 * i, 2 * i + 2, pa.table({"x": [1, 2]}))
    finally:
        mirror.sync()
    shards = [
        f"results/model=m/aaaaaaaaaaaa_{2 * i:06d}-{2 * i + 2:06d}.parquet" for i in range(40)
    ]
    sent = [key for key, _ in order]
    for shard in shards:  # the part before it holds its line
        before = sent[: sent.index(shard)]
        assert before and before[-1].startswith("manifest.parts/")
    manifest = (mirror.local / MANIFEST).stat().st_size
    manifest_bytes = sum(n for key, n in order if key == MANIFEST or key.startswith("manifest."))
    assert manifest_bytes <= 2 * manifest + 100  # the lines once as parts, once whole
    on_store = keys(f"{bucket}/s")
    assert not [k for k in on_store if k.startswith("manifest.parts/")]  # merged at the end
    listed = [json.loads(line)["file"] for line in on_store[MANIFEST].decode().splitlines()]
    assert listed == shards
    assert on_store[shards[0]] == (mirror.local / shards[0]).read_bytes()


def test_a_killed_drivers_manifest_parts_are_merged_by_the_next_pull(bucket: str) -> None:
    import pyarrow as pa

    first = Mirror(bucket, "s")
    first.pull()
    first.watch()
    ResultStore(first.local).write_shard("m", "b" * 12, 0, 2, pa.table({"x": [1, 2]}))
    durable.WATCHERS.clear()  # killed: no sync, its parts stay on the store
    assert any(k.startswith("manifest.parts/") for k in keys(f"{bucket}/s"))
    again = Mirror(bucket, "s", writer=False)  # another machine's copy
    again.pull()
    assert ResultStore(again.local, read_only=True).done_ranges() == {"b" * 12: [(0, 2)]}


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
