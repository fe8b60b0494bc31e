"""output_root as a URI: a file:// URI is a local path; other schemes (object stores) are
named so the config check can refuse them in one line."""

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
