"""output_root as a URI: a file:// URI is a local path; an object store's URI (s3://, gs://)
is kept as written, once its scheme is one pyarrow's filesystems serve (orchestrator/
mirror.py opens it); any other scheme is one line before anything runs."""

from __future__ import annotations

import re

from orchestrator.config.groups import require

URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def file_path(uri: str) -> str:
    """The local path of a file:// URI (file:///abs/path, or file://localhost/abs/path)."""
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    parts = urlparse(uri)
    require(
        parts.netloc in ("", "localhost"),
        f"output_root={uri!r} names the host {parts.netloc!r}: a file:// URI is a path on "
        "this machine, written file:///abs/path (three slashes)",
    )
    return url2pathname(parts.path)


# Schemes of pyarrow's filesystems (its wheel carries S3, GCS, Azure; HDFS needs libhdfs).
STORE_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs")


def check_store_uri(uri: str) -> str:
    """An object store's URI, checked for its form (whether it can be reached is checked
    when it is opened), without a trailing slash."""
    from urllib.parse import urlparse

    parts = urlparse(uri)
    scheme = parts.scheme.lower()
    require(
        scheme in STORE_SCHEMES,
        f"output_root={uri!r}: {scheme}:// is no object store mosweep can write to: use "
        "s3://bucket/prefix, gs://bucket/prefix, a local path, or file:///path",
    )
    require(
        bool(parts.netloc),
        f"output_root={uri!r} names no bucket: write {scheme}://bucket/prefix",
    )
    return f"{scheme}://{parts.netloc}{parts.path}".rstrip("/")
