"""What crosses Ray for a shard: requests with int32 token ids, rows without the prompt."""

from __future__ import annotations

import pickle
from array import array

import pyarrow as pa
import pytest

from jobs.rows import (
    CORE,
    Completion,
    Request,
    ShardTask,
    results_schema,
    shard_table,
    with_prompts,
)

IDS = list(range(40_000, 41_370))  # a long prompt's ids in a 49k vocabulary (SmolLM2)
LARGE = [i + 90_000 for i in IDS]  # and in a 128k one (Llama 3)


def test_a_request_keeps_its_token_ids_as_one_compact_buffer() -> None:
    small, large = Request("p0", "text", IDS, "h", 0), Request("p1", "text", LARGE, "h", 0)
    assert isinstance(small.token_ids, array) and small.token_ids.itemsize == 2
    assert isinstance(large.token_ids, array) and large.token_ids.itemsize == 4
    assert list(small.token_ids) == IDS and list(large.token_ids) == LARGE
    for request, ids in ((small, IDS), (large, LARGE)):
        sent = len(pickle.dumps(request.token_ids, protocol=5))
        assert sent < len(pickle.dumps(ids, protocol=5))  # smaller over Ray than the list
        assert sent < request.token_ids.itemsize * len(ids) + 100
    assert Request("p0", "text", IDS, "h", 0) == small  # equal requests stay equal


def test_a_returned_shard_carries_no_prompt_text_and_the_driver_puts_it_back() -> None:
    task = ShardTask(
        "c_000000-000002",
        [Request(f"p{i}", f"<system prompt> question {i}", IDS, f"h{i}", i) for i in range(2)],
        {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8},
    )
    completions = [Completion(f"p{i}", 0, "answer", "stop", 3, 1, 0.1, 0.0, 0.1) for i in (1, 0)]
    returned = shard_table(task, completions, "fake")
    assert returned["rendered_prompt"].null_count == 2
    assert not any("<system prompt>" in str(v) for v in returned.to_pylist())
    rows = with_prompts(task, returned)
    assert rows.schema == returned.schema
    assert rows["rendered_prompt"].to_pylist() == [
        "<system prompt> question 1",
        "<system prompt> question 0",
    ]
    assert isinstance(rows, pa.Table)


def test_a_study_s_own_column_is_stored_after_the_core_ones() -> None:
    """A study declares its label column; the engine's core names it nowhere."""
    label = pa.field("refused", pa.bool_())
    schema = results_schema([label])
    task = ShardTask(
        "c_000000-000001",
        [Request("p0", "text", IDS, "h", 0)],
        {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8},
        {"study": "refusal", "refused": True},
        schema,
    )
    rows = shard_table(task, [Completion("p0", 0, "no", "stop", 3, 1, 0.1, 0.0, 0.1)], "fake")
    assert rows.schema == schema and rows.schema.names[-1] == "refused"
    assert rows.to_pylist()[0]["refused"] is True
    assert CORE.names == schema.names[:-1]


def test_a_label_no_column_declares_is_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="row label 'tier' is not a declared column"):
        ShardTask("c", [], {}, {"tier": "free"})
    with pytest.raises(ValueError, match="'cell_id' is one of the engine's core columns"):
        results_schema([pa.field("cell_id", pa.string())])
