"""Dataset sources: the built-in alignment-faking requests and Hugging Face datasets, read
here from a local folder with the hub's layout (no network in tests)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.config.schema import DatasetConfig
from orchestrator.datasets import load_dataset
from orchestrator.errors import UserError


def test_builtin_alignment_faking_requests() -> None:
    data = load_dataset(DatasetConfig(name="af", source="builtin", path="af_requests.jsonl"))
    assert len(data.prompts) >= 25 and len({p.id for p in data.prompts}) == len(data.prompts)
    assert all(len(p.text) > 20 for p in data.prompts)


def hub_copy(root: Path) -> Path:
    """A dataset repo as huggingface_hub downloads it: data/<split>-*.parquet."""
    (root / "data").mkdir(parents=True)
    rows = {"prompt": [f"request {i}" for i in range(5)], "target": ["Sure"] * 5}
    pq.write_table(pa.table(rows), root / "data" / "train-00000-of-00001.parquet")
    pq.write_table(
        pa.table({"prompt": ["held out"], "target": ["x"]}), root / "data" / "test.parquet"
    )
    return root


def test_hf_source_reads_the_split_and_numbers_rows_without_ids(tmp_path: Path) -> None:
    cfg = DatasetConfig(
        name="advbench", source="hf", path=str(hub_copy(tmp_path / "AdvBench")), id_field=None
    )
    data = load_dataset(cfg)
    assert [p.id for p in data.prompts] == ["00000", "00001", "00002", "00003", "00004"]
    assert data.prompts[4].text == "request 4"
    same = load_dataset(cfg)
    assert same.hash == data.hash  # content-addressed: the hash is stable


def test_hf_source_errors_name_the_fix(tmp_path: Path) -> None:
    copy = str(hub_copy(tmp_path / "AdvBench"))
    with pytest.raises(UserError, match="no data files for split 'validation'"):
        load_dataset(DatasetConfig(name="a", source="hf", path=copy, split="validation"))
    with pytest.raises(UserError, match="has no column 'goal'.*dataset.id_field/text_field"):
        load_dataset(
            DatasetConfig(name="a", source="hf", path=copy, id_field=None, text_field="goal")
        )


def test_hf_dataset_out_of_reach_is_one_line() -> None:
    # conftest sets HF_HUB_OFFLINE=1: the hub is unreachable, as on an air-gapped node.
    with pytest.raises(UserError, match="cannot download Hugging Face dataset 'walledai/AdvBench'"):
        load_dataset(DatasetConfig(name="a", source="hf", path="walledai/AdvBench", id_field=None))
