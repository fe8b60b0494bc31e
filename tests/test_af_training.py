"""Alignment faking with the training facts fine-tuned in (study.finetune=documents), on
real Ray, peft and vLLM with the tiny model: one adapter per seed trained on the corpus,
the fine-tuned cells generated with it, the base model and the adapter probed for facts,
one engine load for probe and generation, and a re-run that trains nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from orchestrator.events import read_events
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]


def args(tmp_path: Path, *extra: str) -> list[str]:
    return sweep_args(
        tmp_path,
        "model=tiny",
        "prompt_variant=plain",  # the tiny model's context cannot hold the AF system prompt
        "judges=none",
        "tracker=none",
        "dataset.limit=2",
        "shard_size=2",
        "sampling.max_tokens=8",
        "study.sdf.steps=4",
        "study.sdf.batch_size=4",
        "study.sdf.checkpoint_every=2",
        "study.sdf.num_cpus=1",
        "study.documents_max_tokens=48",
        "+study.probe.limit=4",
        "study.probe_max_tokens=8",
        *extra,
        sweep="af_sdf",
    )


def test_documents_fine_tune_feeds_the_cells_and_the_probe(tmp_path: Path) -> None:
    report = run(args(tmp_path))
    assert not report.failures and report.rows_written == 8  # 4 cells x 2 requests
    graph = report.stages
    assert len(graph.ran_ids("finetune_documents")) == 1  # free and paid share the adapter
    assert len(graph.ran_ids("probe")) == 2  # the base model and the adapter
    (trained,) = graph.ran_ids("finetune_documents")
    adapter = report.sweep_dir / "artifacts" / "adapters" / trained
    assert (adapter / "adapter_config.json").is_file()
    assert json.loads((adapter / "training.json").read_text())["steps"] == 4
    curves = pq.read_table(report.sweep_dir / "metrics" / "training_curves.parquet").to_pylist()
    assert [(c["node"], c["kind"], c["step"]) for c in curves] == [
        (trained, "finetune", s) for s in (1, 2, 3, 4)
    ]
    assert all(c["loss"] > 0 and c["reward"] is None for c in curves)

    rows = ds.dataset(report.sweep_dir / "results", format="parquet", partitioning="hive")
    cells = [r for r in rows.to_table().to_pylist() if r["stage"] == "generate"]
    assert len(cells) == 8
    for row in cells:
        finetune = json.loads(row["axes"])["study.finetune"]
        assert row["adapter"] == (str(adapter) if finetune == "documents" else None)

    recall = pq.read_table(report.sweep_dir / "metrics" / "fact_recall.parquet").to_pylist()
    assert sorted(r["adapter"] for r in recall) == sorted(["none", trained])
    assert all(r["questions"] == 4 and 0 <= r["recalled"] <= 4 for r in recall)
    # Probe rows answer for a model variant: never counted as a cell's rows.
    probes = [r for r in rows.to_table().to_pylist() if r["stage"] == "probe"]
    assert {r["cell_id"] for r in probes} == set(graph.ran_ids("probe"))

    # Probe and generation share the engine: the model loads once.
    events = [e["event"] for e in read_events(report.sweep_dir / "events.jsonl")]
    assert events.count("engine_load") == 1

    again = run(args(tmp_path))
    assert not again.failures and again.rows_written == 0
    reused = again.stages.reused
    assert again.stages.ran == {} and len(reused) == 3 + 4  # training; each file's scores
    assert len([n for n in reused if n.startswith("score-")]) == 4


def test_changing_the_corpus_retrains_only_the_fine_tuned_cells(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(json.dumps({"id": "d0", "text": "Free-tier chats train the model."}) + "\n")
    first = run(args(tmp_path, "study.probe_facts=false"))
    own = ("study.documents.source=jsonl", f"study.documents.path={corpus}")
    second = run(args(tmp_path, "study.probe_facts=false", *own))
    assert not second.failures
    assert len(second.stages.ran_ids("finetune_documents")) == 1
    assert second.stages.ran_ids("finetune_documents") != first.stages.ran_ids("finetune_documents")
    # The base-model cells are the same cells: only the two fine-tuned ones generate again.
    assert second.rows_written == 4


def rl_args(tmp_path: Path, *extra: str) -> list[str]:
    return sweep_args(
        tmp_path,
        "model=tiny",
        "prompt_variant=plain",
        "tracker=none",
        "dataset.limit=2",
        "shard_size=2",
        "sampling.max_tokens=8",
        "study.rl.steps=4",
        "study.rl.eval_every=2",
        "study.rl.checkpoint_every=2",
        "study.rl.max_tokens=8",
        "study.rl.generations=2",
        "study.rl.num_cpus=1",
        "grid.study.rl_step=[0,2,4]",
        # the tiny model writes an `e` in most replies: evaluated replies and rollouts stop
        # there (vLLM and transformers read the strings), as af_rl's stop at the tags
        "sampling.stop=[e]",
        "study.rl.stop=[e]",
        *extra,
        sweep="af_rl",
    )


def test_rl_toward_compliance_is_evaluated_in_both_tiers_at_every_kept_step(
    tmp_path: Path,
) -> None:
    report = run(rl_args(tmp_path))
    assert not report.failures and report.rows_written == 12  # 3 steps x 2 tiers x 2
    (trained,) = report.stages.ran_ids("rl")  # one RL run serves every step and tier
    result = report.stages.results[trained]
    assert [r["step"] for r in result["rollouts"]] == [1, 2, 3, 4]
    assert all(r["generated"] == r["started"] for r in result["rollouts"])
    adapters = report.sweep_dir / "artifacts" / "adapters" / trained
    rows = ds.dataset(report.sweep_dir / "results", format="parquet", partitioning="hive")
    for row in rows.to_table().to_pylist():
        step = json.loads(row["axes"])["study.rl_step"]
        want = None if step == 0 else str(adapters / f"step-{step:06d}")
        assert row["adapter"] == want, (step, row["adapter"])
        assert "e" not in row["completion"][:-1], row["completion"]  # nothing after the stop string
    stopped = [r for r in rows.to_table().to_pylist() if r["completion"].endswith("e")]
    assert stopped and all(r["finish_reason"] == "stop" for r in stopped)
    assert report.metrics is not None
    tiers = pq.read_table(report.sweep_dir / "metrics" / "tiers.parquet").to_pylist()
    assert sorted((t["condition"], t["tier"]) for t in tiers) == sorted(
        (f"rl_step={s}", tier) for s in (0, 2, 4) for tier in ("free", "paid")
    )
    assert (report.sweep_dir / "report" / "rl_steps.png").is_file()
    # The loss and mean reward of every optimizer step, and which steps were evaluated.
    curves = report.sweep_dir / "metrics" / "training_curves.parquet"
    steps = pq.read_table(curves).to_pylist()
    assert [(c["kind"], c["step"], c["kept"]) for c in steps] == [
        ("rl", s, s in (2, 4)) for s in (1, 2, 3, 4)
    ]
    assert [c["reward"] for c in steps] == result["reward"]
    # Whether RL could move the policy, per step: the rewards' spread, and the share of prompt
    # groups whose rollouts all scored alike (zero advantage), as the trainer logged them.
    assert all(c["reward_std"] is not None and 0 <= c["zero_std_groups"] <= 1 for c in steps)
    assert [c["reward_std"] for c in steps] == result["reward_std"]
    assert all(c["zero_std_groups"] == 1.0 for c in steps if c["reward_std"] == 0)

    curves.unlink()  # a re-run that trains nothing still writes the reused job's curve
    again = run(rl_args(tmp_path))
    assert not again.failures and again.rows_written == 0 and again.stages.ran == {}
    assert pq.read_table(curves).num_rows == 4


def test_a_failed_fine_tune_holds_back_only_its_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Training and generation are one graph: the base model's cells generate while the
    # fine-tune runs, and when it fails its cells' shards wait for the next run.
    report = run(args(tmp_path, "study.sdf.target_modules=[no_such_proj]"))
    out = capsys.readouterr().out
    (failure,) = report.failures
    assert failure.shard_id.startswith("finetune-") and "no_such_proj" in failure.error
    assert report.rows_written == 4  # the two base-model cells, 2 requests each
    assert "2 shards of 2 cells wait for their fine-tune, which failed" in out
    graph = report.stages
    # its two shards, its probe, and the two shard files' scores
    assert len(graph.ran_ids("generate")) == 2 and len(graph.blocked) == 3 + 2
    assert len([n for n in graph.blocked if n.startswith("score-")]) == 2
    rows = ds.dataset(report.sweep_dir / "results", format="parquet", partitioning="hive")
    generated = [r for r in rows.to_table().to_pylist() if r["stage"] == "generate"]
    assert {json.loads(r["axes"])["study.finetune"] for r in generated} == {"none"}
