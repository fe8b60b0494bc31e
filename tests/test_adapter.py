"""A prompted sweep served with a LoRA adapter on top of the model (`model.adapter`), on
the tiny model through real Ray and vLLM: rows name the adapter, the adapter enters the
cell ids, and the adapter's LoRA weights change what the model says."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.models import cache_dir
from orchestrator.models.tiny import build_tiny
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = pytest.mark.usefixtures("ray_cluster")


def make_adapter(folder: Path) -> Path:
    """A rank-4 LoRA adapter for the tiny model with large random B weights (peft starts B at
    zero, which would change nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(build_tiny("tiny-llama-seed0", cache_dir()))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 2.0)
    model.save_pretrained(folder)
    return folder


def rows(report: object) -> dict[tuple[str, str], str]:
    table = ds.dataset(report.results, format="parquet").to_table()  # type: ignore[attr-defined]
    return {(r["prompt_variant"], r["prompt_id"], r["seed"]): r for r in table.to_pylist()}


def test_sweep_served_with_an_adapter(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path / "adapter")
    common = ["tracker=none", "sampling.temperature=0", "grid.seed=[0]"]
    plain = run(sweep_args(tmp_path / "base", *common))
    tuned = run(sweep_args(tmp_path / "tuned", *common, f"model.adapter={adapter}"))
    assert not plain.failures and not tuned.failures and tuned.rows_written == 24
    base_rows, tuned_rows = rows(plain), rows(tuned)
    assert base_rows.keys() == tuned_rows.keys()
    assert {r["adapter"] for r in tuned_rows.values()} == {str(adapter.resolve())}
    assert {r["adapter"] for r in base_rows.values()} == {None}
    assert not {r["cell_id"] for r in base_rows.values()} & {
        r["cell_id"] for r in tuned_rows.values()
    }
    changed = sum(base_rows[k]["completion"] != tuned_rows[k]["completion"] for k in base_rows)
    assert changed > len(base_rows) / 2  # greedy decoding: the LoRA weights did this
