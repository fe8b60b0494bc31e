"""A sweep whose output_root is a bucket on a real S3-compatible server on loopback (moto),
through the same code path a cloud bucket takes (pyarrow's S3 filesystem, the AWS
variables): its rows land in the bucket, a driver SIGKILLed mid-sweep is resumed from
another machine's empty local copy with no row lost, doubled or rewritten, and the report
is rebuilt from the bucket alone and read back from it."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

import mosweep
from jobs.objstore import ObjectStore
from tests.conftest import REPO
from tests.faults.test_driver_killed import kill_when
from tests.s3_server import filesystem

pytestmark = pytest.mark.slow

SHARDS = 4 * 12  # the tiny sweep: 4 cells x 12 prompts, one prompt per shard
ROOT = "s3://sweeps/runs"
SWEEP = f"{ROOT}/tiny"


def command(*overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        "+sweep=tiny",
        f"output_root={ROOT}",
        "tracker=none",
        "shard_size=1",
        "sampling.max_tokens=48",
        "engine.shards_in_flight=4",
        *overrides,
    ]


def machine(env: dict[str, str], cache: Path) -> dict[str, str]:
    """The environment of a driver on a machine whose local files are `cache` alone."""
    return {**os.environ, **env, "MOSWEEP_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}


def objects() -> dict[str, tuple[int, int]]:
    """Shard objects in the bucket: key -> (size, the store's write time)."""
    listing = ObjectStore(SWEEP).listing("results")
    return {o.key: (o.size, o.mtime_ns) for o in listing if o.key.endswith(".parquet")}


def drive(tmp_path: Path, env: dict[str, str], name: str, *overrides: str) -> str:
    """The sweep's command on machine `name` (its own empty local files); its output."""
    done = subprocess.run(
        command(*overrides),
        cwd=tmp_path,
        env=machine(env, tmp_path / name),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_a_sweep_on_a_bucket_resumes_after_a_kill_and_reports_from_the_bucket(
    tmp_path: Path, s3: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3.items():  # this process reads the bucket too
        monkeypatch.setenv(key, value)
    # 1. A driver on machine A, SIGKILLed (with its local Ray) once 10 shards are in the bucket.
    log = tmp_path / "a.log"
    with log.open("w") as out:
        driver = subprocess.Popen(
            command(),
            cwd=tmp_path,
            env=machine(s3, tmp_path / "machine-a"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    kill_when(driver, lambda: len(objects()) >= 10, log)
    before = objects()
    assert 10 <= len(before) < SHARDS, "the kill must land mid-sweep"
    store = ObjectStore(SWEEP)  # the manifest as sent: its last whole copy and its parts
    parts = [o.key for o in store.listing() if o.key.startswith("manifest.")]
    lines = b"".join(store.get_bytes(key) or b"" for key in parts).decode().splitlines()
    listed = {json.loads(line)["file"] for line in lines}
    assert set(before) <= listed, "a shard reached the bucket before its manifest line"

    # mode=status from machine D reads the bucket and leaves it as it is (the killed
    # driver's manifest parts included)
    listing = [(o.key, o.size, o.mtime_ns) for o in store.listing()]
    drive(tmp_path, s3, "machine-d", "mode=status")
    assert [(o.key, o.size, o.mtime_ns) for o in store.listing()] == listing

    # 2. The same command on machine B (an empty local copy): only what is missing runs.
    out = drive(tmp_path, s3, "machine-b")
    redone = SHARDS - len(before)
    assert f"{redone} rows written in {redone} shards" in out
    assert f"store: {SWEEP} up to date" in out
    after = objects()
    assert len(after) == SHARDS
    assert {k: after[k] for k in before} == before, "a shard in the bucket was rewritten"
    table = ds.dataset(
        "sweeps/runs/tiny/results", filesystem=filesystem(s3), format="parquet"
    ).to_table(["cell_id", "prompt_id", "sample_idx"])
    rows = set(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))
    assert len(rows) == table.num_rows == SHARDS  # no row lost or doubled
    assert not (tmp_path / "s3:").exists() and not (REPO / "s3:").exists()

    assert not [o for o in store.listing() if o.key.startswith("manifest.parts/")]

    # 3. The report, rebuilt on machine C from the bucket alone, read back from the bucket.
    store.delete("report/cells.csv")
    drive(tmp_path, s3, "machine-c", "mode=report")
    cells = list(csv.DictReader(io.StringIO((store.get_bytes("report/cells.csv") or b"").decode())))
    html = (store.get_bytes("report/report.html") or b"").decode()
    assert sum(int(c["rows"]) for c in cells) == SHARDS and len(cells) == 4
    assert "measured" in html

    # 4. mosweep.load on machine E reads the rows from the bucket: config, grid and rows only.
    monkeypatch.setenv("MOSWEEP_CACHE", str(tmp_path / "machine-e"))
    loaded = mosweep.load(SWEEP)
    assert loaded.num_rows == SHARDS and set(loaded["seed"].to_pylist()) == {0, 1}
    copy = tmp_path / "machine-e"
    assert {f.parent.parent.name for f in copy.rglob("*.parquet")} == {"results"}
    assert not list(copy.rglob("report.html"))  # the rows, not the whole folder
