"""Shard files are atomic; half-written files are never taken for results."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from orchestrator.errors import UserError
from orchestrator.store import ResultStore


def table(n: int) -> pa.Table:
    return pa.table({"cell_id": ["0123456789ab"] * n, "x": list(range(n))})


def test_done_ranges_come_from_file_names(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_shard("tiny", "0123456789ab", 0, 4, table(4))
    store.write_shard("tiny", "0123456789ab", 8, 12, table(4))
    store.write_shard("other", "ba9876543210", 0, 2, table(2))
    assert sorted(store.done_ranges()["0123456789ab"]) == [(0, 4), (8, 12)]
    assert store.done_ranges()["ba9876543210"] == [(0, 2)]


def test_temporary_files_are_ignored_and_removed(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_shard("tiny", "0123456789ab", 0, 4, table(4))
    leftover = store.results / "model=tiny" / ".0123456789ab_000004-000008.parquet.abcd1234.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    assert store.done_ranges()["0123456789ab"] == [(0, 4)]
    assert ds.dataset(store.results, format="parquet", partitioning="hive").count_rows() == 4
    assert store.remove_temporaries() == 1
    assert not leftover.exists()


def test_unwritable_output_fails_before_running(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(
        UserError, match="cannot write results to .*: set output_root to a writable folder"
    ):
        ResultStore(blocker / "sweep").check_writable()
