"""The manifest of a sweep folder on an object store, sent in parts.

The manifest (orchestrator/manifest.py) gets a line before each shard file is put in place,
and the line must reach the store before the shard does. An object cannot be appended to,
so sending the whole manifest each time would send it again for every shard: quadratic in
the number of shards (a 40,000-shard sweep would send some 100 GB). Instead each new piece
of the local manifest goes as a part, `manifest.parts/<time>.jsonl`; the next pull appends
the parts, in order, to the manifest it downloads (a later line for the same file replaces
the earlier one, so a part seen twice changes nothing), and the end of an invocation sends
the whole manifest once and deletes the parts.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from jobs.objstore import ObjectStore
from orchestrator.manifest import MANIFEST

PARTS = "manifest.parts"


class ManifestParts:
    """Mixed into the Mirror of a sweep folder (its `store`, `remote`, `local`, `state`)."""

    store: ObjectStore
    remote: dict[str, Any]
    local: Path
    state: dict[str, Any]
    parts: list[str]
    manifest_sent: int

    def merge_parts(self) -> None:
        """Append the store's parts to the pulled manifest (a driver killed before its
        end left them there)."""
        path = self.local / MANIFEST
        self.parts = sorted(k for k in self.remote if k.startswith(f"{PARTS}/"))
        if self.parts:
            text = path.read_bytes() if path.is_file() else b""
            for key in self.parts:
                if text and not text.endswith(b"\n"):
                    text += b"\n"
                text += self.store.get_bytes(key) or b""
            temporary = path.with_name(f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp")
            temporary.write_bytes(text)
            os.replace(temporary, path)
            self.state.pop(MANIFEST, None)  # changed here: sent whole at the end
        self.manifest_sent = path.stat().st_size if path.is_file() else 0

    def send_lines(self) -> None:
        """Send what the local manifest gained since the last part."""
        with open(self.local / MANIFEST, "rb") as f:
            f.seek(self.manifest_sent)
            new = f.read()
        if new:
            key = f"{PARTS}/{time.time_ns():020d}-{uuid.uuid4().hex[:6]}.jsonl"
            self.store.put_bytes(key, new)
            self.parts.append(key)
            self.manifest_sent += len(new)

    def drop_parts(self) -> None:
        for key in self.parts:
            self.store.delete(key)
        self.parts = []
