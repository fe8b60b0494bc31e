"""A sweep's rows are read in groups of files, each group one chunk: a table of one chunk per
shard file kept the process 0.2 MB bigger per file (0.44 GiB for a 2,000-file sweep of
0.07 GiB of rows, so gigabytes at a million rows)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analysis import columns
from analysis.columns import GROUP_FILES, read_rows
from tests.analysis.declared import AF_SCORED
from tests.analysis.test_report import af_sweep, scored_rows

FILES = 2 * GROUP_FILES + 3


def many_files(tmp_path: Path) -> Path:
    sweep = af_sweep(tmp_path)
    scores = sweep / "scores" / "model=m"
    rows = scored_rows()
    for k in range(1, FILES):  # the first is af_sweep's own
        pq.write_table(rows, scores / f"{k:012x}_000000-000010.parquet")
    return scores.parent


def test_rows_of_many_files_come_in_a_chunk_per_group_in_file_order(tmp_path: Path) -> None:
    folder = many_files(tmp_path)
    table = read_rows(folder, AF_SCORED)
    assert table.num_rows == FILES * scored_rows().num_rows
    assert {c.num_chunks for c in table.columns} == {3}  # was FILES chunks
    # in the files' order, every row once
    per_file = [pq.read_table(p, columns=["prompt_id"]) for p in columns.shard_paths(folder)]
    assert table["prompt_id"].to_pylist() == [
        i for t in per_file for i in t["prompt_id"].to_pylist()
    ]


def test_a_group_ends_at_its_bytes_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = many_files(tmp_path)
    size = next(folder.rglob("*.parquet")).stat().st_size
    monkeypatch.setattr(columns, "GROUP_BYTES", 10 * size)  # ten files a group
    table = read_rows(folder, AF_SCORED)
    assert {c.num_chunks for c in table.columns} == {-(-FILES // 10)}
