"""The sample browser reads a sweep of any size in bounded memory: before, it made every row
a Python dict, text included (0.36 GiB more for a 100,000-row af_grid report, so gigabytes
for a million rows); it picks the same samples as before."""

from __future__ import annotations

import json
import random
import tracemalloc
from collections import defaultdict
from typing import Any

import pyarrow as pa

from analysis.samples import BATCH, CellSamples, _sample, browse, cell_label, finish_class

ROWS = 3 * BATCH + 17  # more than one batch, and a last one part full


def table(text_bytes: int) -> pa.Table:
    rng = random.Random(0)
    return pa.table(
        {
            "stage": ["generate"] * ROWS,
            "model": [f"m{i % 2}" for i in range(ROWS)],
            "prompt_variant": [f"v{i % 3}" for i in range(ROWS)],
            "axes": [json.dumps({"seed": i % 2}) for i in range(ROWS)],
            "prompt_id": [f"p{rng.randrange(ROWS):06d}" for _ in range(ROWS)],
            "sample_idx": [i % 4 for i in range(ROWS)],
            "finish_reason": [rng.choice(["stop", "length", "abort"]) for _ in range(ROWS)],
            "completion": [f"reply {i} " + "x" * text_bytes for i in range(ROWS)],
            "shard_id": [f"s{i // 50}" for i in range(ROWS)],
        }
    )


def whole_table(rows: pa.Table, per_class: int = 3, seed: int = 0) -> list[CellSamples]:
    """The browser as it was: every row a dict at once."""
    by_cell: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows.to_pylist():
        by_cell[cell_label(row)][finish_class(row)].append(row)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_cell):
        classes = {}
        for name, members in sorted(by_cell[label].items(), key=lambda kv: -len(kv[1])):
            members.sort(key=lambda r: (r["prompt_id"], r["sample_idx"]))
            picked = rng.sample(members, min(per_class, len(members)))
            classes[name] = (len(members), [_sample(r, False) for r in picked])
        out.append(CellSamples(label, classes))
    return out


def test_the_browser_picks_what_it_picked_reading_the_whole_table() -> None:
    rows = table(text_bytes=8)
    assert browse(rows) == whole_table(rows)


def test_the_browser_holds_one_batch_of_rows_not_the_table() -> None:
    rows = table(text_bytes=2000)  # ~25 MB of text
    tracemalloc.start()
    try:
        browse(rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a batch as dicts (~10 MB) and a key per row; every row as a dict was ~40 MB
    assert peak < 16 * 2**20, peak
