"""A folder of an object store (`s3://bucket/prefix`, `gs://bucket/prefix`, or any scheme
pyarrow's filesystems know), read and written by relative key.

pyarrow's own filesystems are the layer (the wheel carries S3 and GCS): they read the
standard credentials of each cloud (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile,
AWS_REGION, AWS_ENDPOINT_URL for an S3-compatible server such as MinIO or Ceph;
GOOGLE_APPLICATION_CREDENTIALS), as the cloud's own tools do. Every call has a time limit,
so a store that cannot be reached is an error within seconds, not a hang.

An object appears whole or not at all (a PUT is atomic), so `put` needs no temporary name;
what a rename gives on a disk, the order of the puts gives here (orchestrator/mirror.py).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# What a listing or a transfer may take before it is an error (seconds).
CONNECT_TIMEOUT_S = 5.0
REQUEST_TIMEOUT_S = 60.0
BLOCK = 1 << 20


def _filesystem(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, bucket/prefix path) of a URI, with time limits set."""
    import pyarrow.fs as pafs

    parts = urlparse(uri)
    path = (parts.netloc + parts.path).rstrip("/")
    if parts.scheme == "s3":
        # The AWS tools' own variables (an S3-compatible server: its endpoint URL)
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region and not endpoint:
            region = pafs.resolve_s3_region(parts.netloc)  # a network call; it may fail
        s3 = pafs.S3FileSystem(
            region=region or "us-east-1",
            endpoint_override=endpoint or None,
            connect_timeout=CONNECT_TIMEOUT_S,
            request_timeout=REQUEST_TIMEOUT_S,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        )
        return s3, path
    if parts.scheme in ("gs", "gcs"):
        limit = datetime.timedelta(seconds=REQUEST_TIMEOUT_S)
        return pafs.GcsFileSystem(retry_time_limit=limit), path
    filesystem, found = pafs.FileSystem.from_uri(uri)
    return filesystem, str(found)


@dataclass(frozen=True)
class Listed:
    key: str  # relative to the store's folder, with forward slashes
    size: int
    mtime_ns: int  # when the object was last written (the store's clock): its version


class ObjectStore:
    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, self.base = _filesystem(self.uri)

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}" if key else self.base

    def listing(self, prefix: str = "") -> list[Listed]:
        """Every object under `prefix` (a folder key), in key order."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self._path(prefix), recursive=True, allow_not_found=True)
        found = [
            _listed(info.path[len(self.base) + 1 :], info)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        ]
        return sorted(found, key=lambda o: o.key)

    def stat(self, key: str) -> Listed | None:
        """An object's size and version, None when there is none."""
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(self._path(key))
        return _listed(key, info) if info.type == pafs.FileType.File else None

    def put(self, local: Path, key: str) -> None:
        with open(local, "rb") as source, self.fs.open_output_stream(self._path(key)) as out:
            for block in iter(lambda: source.read(BLOCK), b""):
                out.write(block)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self.fs.open_output_stream(self._path(key)) as out:
            out.write(data)

    def get_bytes(self, key: str) -> bytes | None:
        """An object's bytes, None when there is none."""
        if self.stat(key) is None:
            return None
        with self.fs.open_input_stream(self._path(key)) as source:
            data: bytes = source.read()
            return data

    def get(self, key: str, local: Path) -> None:
        """Copy an object to `local` (the caller puts it in place: jobs/durable.py)."""
        with self.fs.open_input_stream(self._path(key)) as source, open(local, "wb") as out:
            for block in iter(lambda: source.read(BLOCK), b""):
                out.write(block)

    def delete(self, key: str) -> None:
        import pyarrow.fs as pafs

        if self.fs.get_file_info(self._path(key)).type == pafs.FileType.File:
            self.fs.delete_file(self._path(key))


def _listed(key: str, info: Any) -> Listed:
    return Listed(key, int(info.size or 0), int(info.mtime_ns or 0))
