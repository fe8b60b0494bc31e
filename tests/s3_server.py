"""A real S3-compatible server on loopback for tests: moto's server mode (from the package
index), reached through the same pyarrow S3 filesystem a cloud bucket is."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_cluster_recipes import free_port


@contextmanager
def s3_server(log: Path, bucket: str = "sweeps") -> Iterator[dict[str, str]]:
    """Start the server, make `bucket`; yields the environment a client needs."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2).close()
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "moto's server did not answer in 60 s"
                time.sleep(0.2)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test-key",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
            "AWS_REGION": "us-east-1",
        }
        filesystem(env).create_dir(bucket)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)


def filesystem(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """A pyarrow S3 filesystem on the server (allowed to make buckets, unlike the tool's)."""
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(
        endpoint_override=env["AWS_ENDPOINT_URL"],
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region=env["AWS_REGION"],
        allow_bucket_creation=True,
    )
