"""A sweep whose output_root is a bucket on a real S3-compatible server on loopback (moto),
through the same code path a cloud bucket takes (pyarrow's S3 filesystem, the AWS
variables): its rows land in the bucket, a driver SIGKILLed mid-sweep is resumed from
another machine's empty local copy with no row lost, doubled or rewritten, and the report
is rebuilt from the bucket alone and read back from it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from jobs.objstore import ObjectStore
from tests.conftest import REPO
from tests.s3_server import filesystem, s3_server

pytestmark = pytest.mark.slow

SHARDS = 4 * 12  # the tiny sweep: 4 cells x 12 prompts, one prompt per shard
ROOT = "s3://sweeps/runs"
SWEEP = f"{ROOT}/tiny"


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[dict[str, str]]:
    with s3_server(tmp_path / "moto.log") as env:
        yield env


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


def objects(env: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Shard objects in the bucket: key -> (size, the store's write time)."""
    with patched(env):
        listing = ObjectStore(SWEEP).listing("results")
    return {o.key: (o.size, o.mtime_ns) for o in listing if o.key.endswith(".parquet")}


@contextlib.contextmanager
def patched(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_a_sweep_on_a_bucket_resumes_after_a_kill_and_reports_from_the_bucket(
    tmp_path: Path, s3: dict[str, str]
) -> None:
    # 1. A driver on machine A, SIGKILLed (with its local Ray) once 10 shards are in the bucket.
    log = (tmp_path / "a.log").open("w")
    driver = subprocess.Popen(
        command(),
        cwd=tmp_path,
        env=machine(s3, tmp_path / "machine-a"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while len(objects(s3)) < 10:
            assert driver.poll() is None, (tmp_path / "a.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "10 shards not in the bucket in 300 s"
            time.sleep(0.05)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    before = objects(s3)
    assert 10 <= len(before) < SHARDS, "the kill must land mid-sweep"
    with patched(s3):
        manifest = (ObjectStore(SWEEP).get_bytes("manifest.jsonl") or b"").decode()
    listed = {json.loads(line)["file"] for line in manifest.splitlines()}
    assert set(before) <= listed, "a shard reached the bucket before its manifest line"

    # 2. The same command on machine B (an empty local copy): only what is missing runs.
    rerun = subprocess.run(
        command(),
        cwd=tmp_path,
        env=machine(s3, tmp_path / "machine-b"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    redone = SHARDS - len(before)
    assert f"{redone} rows written in {redone} shards" in rerun.stdout
    assert f"store: {SWEEP} up to date" in rerun.stdout
    after = objects(s3)
    assert len(after) == SHARDS
    assert {k: after[k] for k in before} == before, "a shard in the bucket was rewritten"
    table = ds.dataset(
        "sweeps/runs/tiny/results", filesystem=filesystem(s3), format="parquet"
    ).to_table(["cell_id", "prompt_id", "sample_idx"])
    rows = set(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))
    assert len(rows) == table.num_rows == SHARDS  # no row lost or doubled
    assert not (tmp_path / "s3:").exists() and not (REPO / "s3:").exists()

    # 3. The report, rebuilt on machine C from the bucket alone, read back from the bucket.
    with patched(s3):
        ObjectStore(SWEEP).delete("report/cells.csv")
    report = subprocess.run(
        command("mode=report"),
        cwd=tmp_path,
        env=machine(s3, tmp_path / "machine-c"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    with patched(s3):
        store = ObjectStore(SWEEP)
        cells = list(
            csv.DictReader(io.StringIO((store.get_bytes("report/cells.csv") or b"").decode()))
        )
        html = (store.get_bytes("report/report.html") or b"").decode()
    assert sum(int(c["rows"]) for c in cells) == SHARDS and len(cells) == 4
    assert "measured" in html
