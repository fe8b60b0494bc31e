"""Training curves: each finished training node's loss and, for an RL job, its reward per
optimizer step, from the training.json its job publishes with the adapter. One table per
sweep, metrics/training_curves.parquet, rewritten whenever the graph is run, so a resumed
sweep's table holds every training job of its grid, whether trained now or reused.
W&B gets the same curves per job as they finish (graph/tasks.py log_task)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.node import Node

SCHEMA = pa.schema(
    [
        ("node", pa.string()),  # the training node (its adapter's id)
        ("kind", pa.string()),  # finetune | rl
        ("stage", pa.string()),  # the study's name for it (insert_backdoor, rl, ...)
        ("label", pa.string()),
        ("step", pa.int64()),  # optimizer step, from 1
        ("loss", pa.float64()),
        ("reward", pa.float64()),  # mean reward of the step's rollouts (RL only)
        ("reward_std", pa.float64()),  # their standard deviation (RL only)
        # the share of the step's prompt groups with zero advantage: every rollout scored
        # alike, so GRPO had nothing to learn from them (RL only)
        ("zero_std_groups", pa.float64()),
        ("kl", pa.float64()),  # KL to the starting policy, when a KL penalty is set (RL only)
        ("kept", pa.bool_()),  # an RL step whose adapter was kept for evaluation
    ]
)


# An RL job's per-step curves beside its reward (jobs/rl.py's training.json).
RL_CURVES = ("reward_std", "zero_std_groups", "kl")


def curve_rows(node: Node, training: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per optimizer step of one job's training.json."""
    losses = training.get("losses") or training.get("loss") or []
    rewards = training.get("reward") or []
    kept = set(training.get("kept_steps") or [])
    per_step = {name: training.get(name) or [] for name in RL_CURVES}

    def at(values: list[float], step: int) -> float | None:
        return values[step - 1] if step <= len(values) else None

    return [
        {
            "node": node.id,
            "kind": node.kind,
            "stage": node.stage,
            "label": str(training.get("label") or f"{node.stage}-{node.id}"),
            "step": step,
            "loss": at(losses, step),
            "reward": at(rewards, step),
            **{name: at(values, step) for name, values in per_step.items()},
            "kept": step in kept,
        }
        for step in range(1, max(len(losses), len(rewards)) + 1)
    ]


def training_curves(artifacts: Artifacts, nodes: Iterable[Node]) -> pa.Table | None:
    """The curves of every finished training node among `nodes`; None without one."""
    rows: list[dict[str, Any]] = []
    for node in sorted({n.id: n for n in nodes}.values(), key=lambda n: (n.stage, n.id)):
        report = artifacts.output(node) / "training.json"
        if node.spec.output == "adapters" and report.is_file():
            rows += curve_rows(node, json.loads(report.read_text()))
    return pa.Table.from_pylist(rows, schema=SCHEMA) if rows else None
