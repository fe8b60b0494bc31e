"""The one store of node outputs, content-addressed under the sweep folder:

    artifacts/answers/<id>.json    answer and judge nodes: prompt id -> completion or verdict
    artifacts/data/<id>.jsonl      derive nodes: a data set (a training set)
    artifacts/adapters/<id>/       finetune nodes: a LoRA adapter, with training.json
    artifacts/work/<id>/           checkpoints of a training node that has not finished
    results/model=<m>/<id>_*       generate nodes: rows, each with its grid cell and axes

Every write is durable (jobs/durable.py: fsync, then rename), so a final name means a
complete output. A data file that cannot be read anyway (an earlier crash, a full disk) is
set aside into quarantine/ and counts as missing, so its node runs again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs import durable
from orchestrator.graph.node import Node
from orchestrator.store import ResultStore


class Artifacts:
    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self.root = store.root / "artifacts"

    def path(self, kind: str, artifact: str, suffix: str = "") -> Path:
        return self.root / kind / f"{artifact}{suffix}"

    def output(self, node: Node) -> Path:
        """Where a node's output lives (generate nodes: their rows' file name prefix)."""
        spec = node.spec
        if spec.output == "rows":
            return self.store.results / node.id
        return self.path(spec.output, node.id, spec.suffix)

    def done(self, kind: str, artifact: str, suffix: str = "") -> bool:
        path = self.path(kind, artifact, suffix)
        if not path.exists():
            return False
        if suffix in (".json", ".jsonl"):
            try:  # an empty file is no data set either
                if path.stat().st_size == 0:
                    raise json.JSONDecodeError("empty file", "", 0)
                self.read(kind, artifact, suffix)
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.store.quarantine(path, "is not valid JSON")
                return False
        return True

    def node_done(self, node: Node, rows_done: set[str] | dict[str, Any]) -> bool:
        spec = node.spec
        if node.done is not None:
            return node.done()
        if node.shard is not None:  # every prompt of its range written, in any files
            shard = node.shard
            ranges = rows_done.get(shard.cell.id, []) if isinstance(rows_done, dict) else []
            covered: int = sum(max(0, min(e, shard.end) - max(s, shard.start)) for s, e in ranges)
            return covered >= shard.size
        if spec.output == "rows":
            return node.id in rows_done
        return self.done(spec.output, node.id, spec.suffix)

    def write_json(self, kind: str, artifact: str, payload: Any, suffix: str = ".json") -> None:
        text = (
            "".join(json.dumps(r) + "\n" for r in payload)
            if suffix == ".jsonl"
            else json.dumps(payload, indent=1)
        )
        durable.write_text(self.path(kind, artifact, suffix), text)

    def read(self, kind: str, artifact: str, suffix: str) -> Any:
        text = self.path(kind, artifact, suffix).read_text(encoding="utf-8")
        if suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)

    def answers(self, node_id: str) -> dict[str, Any]:
        """An answer or judge node's output: prompt id -> completion or verdict."""
        result: dict[str, Any] = self.read("answers", node_id, ".json")
        return result

    def data(self, node_id: str) -> list[dict[str, Any]]:
        """A derive node's data set."""
        result: list[dict[str, Any]] = self.read("data", node_id, ".jsonl")
        return result

    def rows(self, node_id: str) -> pa.Table:
        """A generate node's rows (one shard file per node, in its model's partition)."""
        files = sorted(self.store.results.glob(f"model=*/{node_id}_*.parquet"))
        return pa.concat_tables([pq.read_table(f) for f in files])  # one node: one schema

    def adapter(self, node_id: str) -> str:
        """A finetune node's adapter folder."""
        return str(self.path("adapters", node_id))
