"""What crosses Ray for a shard: requests with int32 token ids, rows without the prompt."""

from __future__ import annotations

import pickle
from array import array

import pyarrow as pa

from jobs.rows import Completion, Request, ShardTask, shard_table, with_prompts

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
