"""Dataset sources: the built-in alignment-faking requests and Hugging Face datasets, read
here from a local folder with the hub's layout (no network in tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.config.groups import DatasetConfig
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


def local(path: Path, source: str) -> DatasetConfig:
    return DatasetConfig(
        name="d", source=source, path=str(path), id_field="id", text_field="prompt"
    )


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"id": "b", "prompt": null}', "row 2 (id 'b') has a null prompt"),
        ('{"id": "b", "prompt": "  "}', "row 2 (id 'b') has an empty prompt"),
        ('{"id": "b", "prompt": "\\ud800 x"}', "row 2 (id 'b') holds a lone surrogate"),
        # used to be sent as their Python text form
        ('{"id": "b", "prompt": {"text": "x"}}', "row 2 (id 'b') has a prompt that is a dict"),
        ('{"id": "b", "prompt": 42}', "row 2 (id 'b') has a prompt that is a int, not text"),
        # used to end in a traceback
        ('"just a string"', "d.jsonl:2 is a JSON str, not an object"),
        ("null", "d.jsonl:2 is a JSON null, not an object"),
        ('["b", "x"]', "d.jsonl:2 is a JSON list, not an object"),
    ],
)
def test_null_empty_or_unencodable_prompts_are_refused_with_their_row(
    tmp_path: Path, line: str, says: str
) -> None:
    # A null prompt used to reach the model as the text "None".
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "prompt": "hello"}\n' + line + "\n")
    with pytest.raises(UserError, match=re.escape(says)):
        load_dataset(local(path, "jsonl"))


def test_a_raw_line_separator_inside_a_json_string_stays_in_its_prompt(tmp_path: Path) -> None:
    # JSON allows a raw U+2028 in a string; str.splitlines() cut the line there.
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a", "prompt": "one\u2028two"}\n', encoding="utf-8")
    assert [p.text for p in load_dataset(local(path, "jsonl")).prompts] == ["one\u2028two"]


def test_a_byte_order_mark_is_not_part_of_the_first_csv_column(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeffid,prompt\n1,hello\n".encode())
    assert [(p.id, p.text) for p in load_dataset(local(path, "csv")).prompts] == [("1", "hello")]


@pytest.mark.timeout(60)
def test_the_duplicate_id_check_is_linear(tmp_path: Path) -> None:
    # 300,000 ids with the duplicate last: the old check (ids.count per id) was quadratic,
    # hours at a million ids before it reported.
    path = tmp_path / "d.jsonl"
    rows = [f'{{"id": "{i}", "prompt": "p"}}' for i in range(300_000)]
    path.write_text("\n".join([*rows, '{"id": "299999", "prompt": "p"}']) + "\n")
    with pytest.raises(UserError, match="repeats prompt id '299999'"):
        load_dataset(local(path, "jsonl"))


@pytest.mark.parametrize("source", ["jsonl", "csv"])
def test_a_file_that_is_not_utf8_is_one_line_naming_the_byte(tmp_path: Path, source: str) -> None:
    """A Latin-1 export (used to end in a UnicodeDecodeError traceback)."""
    path = tmp_path / f"d.{source}"
    data = '{"id": "a", "prompt": "caf\xe9"}\n' if source == "jsonl" else "id,prompt\n1,caf\xe9\n"
    path.write_bytes(data.encode("latin-1"))
    with pytest.raises(UserError, match=r"is not valid UTF-8 \(byte \d+ of the file\): save it"):
        load_dataset(local(path, source))
