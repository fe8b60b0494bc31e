"""The manifest (orchestrator/manifest.py): a file is done only while its bytes match its
line; a torn line lists nothing and the next line starts on its own; the last line wins."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.manifest import MANIFEST, Manifest
from orchestrator.store import ResultStore


def shard(store: ResultStore, cell: str, rows: int) -> Path:
    table = pa.table({"prompt_id": [f"p{i}" for i in range(rows)]})
    return store.write_shard("m", cell, 0, rows, table)


def test_a_written_shard_is_listed_and_stays_done_until_its_bytes_change(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = shard(store, "aaaaaaaaaaaa", 3)
    listed = store.manifest.entries()
    assert listed["results/model=m/aaaaaaaaaaaa_000000-000003.parquet"].rows == 3
    assert store.manifest.mismatch(path, listed) is None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert "does not match its manifest.jsonl record" in str(store.manifest.mismatch(path, listed))
    assert store.done_ranges() == {} and not path.exists()  # set aside, to be made again


def test_a_torn_line_lists_nothing_and_the_next_line_is_whole(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    first = shard(store, "aaaaaaaaaaaa", 2)
    text = (tmp_path / MANIFEST).read_text()
    (tmp_path / MANIFEST).write_text(text[:-20])  # a crash mid-append
    second = shard(store, "bbbbbbbbbbbb", 2)
    listed = Manifest(tmp_path).entries()
    assert "is not listed" in str(store.manifest.mismatch(first, listed))
    assert store.manifest.mismatch(second, listed) is None


def test_a_file_made_again_is_judged_by_its_last_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    shard(store, "aaaaaaaaaaaa", 2)
    again = shard(store, "aaaaaaaaaaaa", 2)  # same name, written again
    assert store.manifest.mismatch(again, store.manifest.entries()) is None


def test_a_folder_from_before_the_manifest_is_listed_once_as_found(tmp_path: Path) -> None:
    partition = tmp_path / "results" / "model=m"
    partition.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2]}), partition / "aaaaaaaaaaaa_000000-000002.parquet")
    (partition / "bbbbbbbbbbbb_000000-000002.parquet").write_bytes(b"cut")
    assert ResultStore(tmp_path, read_only=True).done_ranges() == {"aaaaaaaaaaaa": [(0, 2)]}
    assert not (tmp_path / MANIFEST).exists()  # read-only: nothing written
    assert ResultStore(tmp_path).done_ranges() == {"aaaaaaaaaaaa": [(0, 2)]}
    assert len(Manifest(tmp_path).entries()) == 1


def test_a_file_is_listed_before_it_takes_its_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between the rename and the manifest line would leave a finished shard
    unlisted, and a re-run would make it again: the line comes first."""
    store = ResultStore(tmp_path)
    seen: list[bool] = []
    real = os.replace

    def rename(source: Any, target: Any) -> None:
        seen.append(f"results/model=m/{Path(target).name}" in Manifest(tmp_path).entries())
        real(source, target)

    monkeypatch.setattr(os, "replace", rename)
    path = shard(store, "aaaaaaaaaaaa", 2)
    assert seen == [True]
    assert store.manifest.mismatch(path, Manifest(tmp_path).entries()) is None
