"""The README's demo: the smoke sweep on the embedded SmolLM2 through real Ray and vLLM.

It converts the embedded model on first use (about 25 s), then runs 8 cells x 12 prompts.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


def test_smoke_sweep_runs_then_resumes_in_seconds(tmp_path: Path) -> None:
    args = sweep_args(tmp_path, "tracker=none", sweep="smoke")
    report = run(args)
    assert report.failures == [] and report.rows_written == 8 * 12
    rows = ds.dataset(report.results, format="parquet", partitioning="hive").to_table()
    # A real model, really served: a random or mis-loaded model never names the capital.
    # (At temperature 0.7, about 5 of its 8 answers do; greedy ones always do.)
    france = rows.filter(ds.field("prompt_id") == "q00")["completion"].to_pylist()
    assert len(france) == 8 and sum("Paris" in answer for answer in france) >= 2

    start = time.monotonic()
    again = run(args)
    assert again.shards_run == 0 and again.rows_written == 0
    assert time.monotonic() - start < 15, "a finished sweep re-runs in seconds"
