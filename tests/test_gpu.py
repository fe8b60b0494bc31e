"""GPU path, opt-in: `pytest -m gpu` on a node with a CUDA GPU and the official vllm.

Deselected by default (pyproject addopts), so CPU machines and CI never run it; it is not a
skip that passes everywhere: on a GPU node it runs the tiny sweep on the GPU for real.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("ray_cluster")]


def test_tiny_sweep_on_gpu(tmp_path: Path) -> None:
    import torch

    assert torch.cuda.is_available(), "run -m gpu on a machine with a CUDA GPU"
    report = run(
        sweep_args(
            tmp_path, "tracker=none", "engine.device=cuda", "engine.gpu_memory_utilization=0.3"
        )
    )
    rows = ds.dataset(report.results, format="parquet", partitioning="hive").to_table()
    assert report.failures == [] and rows.num_rows == 48
    assert all("(cuda, float32)" in e for e in rows["engine"].to_pylist())
