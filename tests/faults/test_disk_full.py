"""The disk fills up mid-run (or the output folder turns read-only): one line that says what
to do instead of a traceback, nothing more is dispatched, every shard not written is listed
in failed_shards.json, and the same command resumes once there is room."""

from __future__ import annotations

import errno
import json
import signal
from collections.abc import Callable
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from jobs import durable
from orchestrator.__main__ import main
from orchestrator.run import run
from tests.conftest import sweep_args

SHARDS = 4 * 3  # tiny: 4 cells x 12 prompts in shards of 4
ROOM = 3  # result files the disk takes before it is full


def test_a_full_disk_is_one_line_and_the_rerun_resumes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ray_cluster: None,
) -> None:
    real = durable.write_file
    results: list[Path] = []

    def filling(final: Path, write: Callable[[Path], object]) -> Path:
        if final.suffix == ".parquet" and "results" in final.parts:
            if len(results) >= ROOM:
                raise OSError(errno.ENOSPC, "No space left on device", str(final))
            results.append(final)
        return real(final, write)

    monkeypatch.setattr(durable, "write_file", filling)
    args = sweep_args(tmp_path, "engine=fake", "tracker=none")
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert main(args) == 1
    finally:
        signal.signal(signal.SIGTERM, handler)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert "re-run the same command" in err[0]
    sweep = tmp_path / "tiny"
    written = sorted(p.name for p in sweep.glob("results/*/*.parquet"))
    assert len(written) == ROOM
    failed = json.loads((sweep / "failed_shards.json").read_text())
    # Every shard is written or listed, never both: the one whose write failed among them.
    assert len(failed) == SHARDS - ROOM
    assert any(f["error"].startswith("not written") for f in failed)
    monkeypatch.setattr(durable, "write_file", real)
    again = run(args)
    assert not again.failures and again.shards_run == SHARDS - ROOM
    rows = ds.dataset(sweep / "results", format="parquet").to_table(["cell_id", "prompt_id"])
    keys = set(zip(rows["cell_id"].to_pylist(), rows["prompt_id"].to_pylist(), strict=True))
    assert rows.num_rows == len(keys) == 4 * 12
