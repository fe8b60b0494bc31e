"""Files and folders reach their final names complete and flushed, or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs import durable


def test_a_file_is_flushed_before_and_after_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def record(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real(descriptor)

    monkeypatch.setattr(os, "fsync", record)
    final = durable.write_text(tmp_path / "sub" / "a.json", "{}")
    assert final.read_text() == "{}"
    # the data under its temporary name first, then the folder holding the new name
    assert synced[0].endswith(".tmp") and synced[-1] == str(tmp_path / "sub")
    assert [p.name for p in final.parent.iterdir()] == ["a.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    final = durable.write_text(tmp_path / "a.txt", "old")

    def broken(path: Path) -> None:
        path.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        durable.write_file(final, broken)
    assert final.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_folder_appears_complete_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "adapter"
    staging = durable.staging_folder(final)
    (staging / "weights.bin").write_bytes(b"x" * 10)
    assert not final.exists()
    durable.publish_folder(staging, final)
    assert (final / "weights.bin").read_bytes() == b"x" * 10 and not staging.exists()
    # a killed build's leftover is cleared before the next one starts
    leftover = durable.staging_folder(tmp_path / "other")
    (leftover / "junk").write_text("?")
    assert list(durable.staging_folder(tmp_path / "other").iterdir()) == []
