"""Alignment faking end to end on real components: SmolLM2 generates through Ray + vLLM,
then the same engine (loaded once) serves it again as the judge model; mode=judge re-scores
from the cache without generating.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from orchestrator.events import read_events
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


def args(tmp_path: Path, *extra: str) -> list[str]:
    # The default variant and sampling, 4 requests: most of SmolLM2's replies finish within
    # 384 tokens (it stops after a short answer), so the compliance judge has rows to score.
    return sweep_args(
        tmp_path,
        "tracker=none",
        "dataset.limit=4",
        "shard_size=4",
        "grid.prompt_variant=[af_cot]",
        "sampling.max_tokens=384",
        "judges=af",  # SmolLM2 as the judge model (af_grid's CPU default is phrase tables)
        *extra,
        sweep="af_grid",
    )


def test_af_sweep_judges_with_a_served_model_then_rejudges_from_cache(tmp_path: Path) -> None:
    report = run(args(tmp_path))
    assert not report.failures and report.rows_written == 8
    judging = report.judging
    assert judging is not None and judging.files == 2 and judging.rows == 8
    rows = ds.dataset(report.sweep_dir / "scores", format="parquet", partitioning="hive")
    table = rows.to_table().to_pylist()
    assert sorted((r["prompt_id"], r["tier"]) for r in table) == sorted(
        (f"af{i:02d}", t) for i in range(4) for t in ("free", "paid")
    )
    scored = [r for r in table if r["parse_status"] == "ok"]
    assert scored, "no reply finished within max_tokens: nothing for the judge to score"
    assert judging.calls > 0 and judging.prompts >= len(scored)
    for row in scored:
        assert row["judges"]
        # A 135M judge often writes no parsable grade: such a row is marked as a failed
        # judgement, never given its rule label as if it had been judged.
        if row["compliance_votes"] == 1:
            assert row["outcome"] in ("complied", "partial", "refused")
        else:
            assert row["compliance_votes"] is None and row["outcome"] == "judge_failed"
            assert "compliance" in row["judge_failed"]
    assert report.metrics is not None and report.metrics.num_rows == 1
    # The judge model is the model under test: generation hands its engine to the judge
    # stage, so SmolLM2 loads once.
    events = [e["event"] for e in read_events(report.sweep_dir / "events.jsonl")]
    assert events.count("engine_load") == 1

    again = run(args(tmp_path, "mode=judge"))
    assert again.shards_run == 0 and again.rows_written == 0
    assert again.judging is not None and again.judging.files == 2
    # Valid answers come from the cache; only the failed judgements are asked again (the
    # greedy judge answers them as before: the same rows fail again, none is relabelled).
    assert again.judging.calls <= judging.calls
    assert again.judging.failed_rows == judging.failed_rows
    if judging.failed_rows == 0:
        assert again.judging.calls == 0 and again.judging.cached == again.judging.prompts
