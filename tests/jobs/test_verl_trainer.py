"""trainer=verl: the run an rl node's settings describe, composed from verl's own Hydra
config and checked by verl's own validation (no GPU needed), and the reward verl calls."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from jobs.rl_config import RlSettings
from jobs.verl_reward import compute_score
from jobs.verl_trainer import REWARD_FILE, VerlRun, VerlSettings, check, compose, overrides

SEVENTY_B = VerlRun(
    model="meta-llama/Llama-3.3-70B-Instruct",
    train_files="/runs/af/work/n/verl/prompts.parquet",
    output="/runs/af/work/n/verl",
    reward="complies",
    settings=RlSettings(prompts_per_step=8, generations=8, rank=64, alpha=128, steps=300),
    cluster=VerlSettings(gpus_per_node=8, rollout_tensor_parallel=4, offload=True),
    label="rl-n",
    seed=0,
)


def test_the_settings_land_where_verl_reads_them() -> None:
    config = compose(overrides(SEVENTY_B))
    model, actor = config.actor_rollout_ref.model, config.actor_rollout_ref.actor
    rollout = config.actor_rollout_ref.rollout
    assert config.algorithm.adv_estimator == "grpo"
    assert (model.lora_rank, model.lora_alpha, model.path) == (64, 128, SEVENTY_B.model)
    assert list(model.target_modules) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert model.lora_adapter_path is None  # a new adapter
    assert (rollout.n, rollout.tensor_model_parallel_size, rollout.name) == (8, 4, "vllm")
    assert actor.fsdp_config.param_offload and actor.ppo_mini_batch_size == 8
    assert (config.trainer.n_gpus_per_node, config.trainer.total_training_steps) == (8, 300)
    assert config.trainer.save_freq == 10  # eval_every: the adapters the study evaluates
    assert config.reward.custom_reward_function.path == REWARD_FILE
    assert Path(REWARD_FILE).is_file()
    check(config)  # verl's own validation passes


def test_the_advantage_scale_and_kl_gradient_are_those_trl_would_use() -> None:
    config = compose(overrides(SEVENTY_B))  # the defaults: TRL's
    assert config.algorithm.norm_adv_by_std_in_grpo is True
    assert config.actor_rollout_ref.actor.kl_loss_type == "low_var_kl+"  # k2's gradient
    plain = replace(SEVENTY_B.settings, scale_rewards="none", kl_correction=False)
    config = compose(overrides(replace(SEVENTY_B, settings=plain)))
    assert config.algorithm.norm_adv_by_std_in_grpo is False
    assert config.actor_rollout_ref.actor.kl_loss_type == "low_var_kl"  # k3's own gradient
    check(config)


def test_verl_rejects_a_batch_the_gpus_cannot_share() -> None:
    # 1 prompt x 2 rollouts cannot be split over 8 GPUs: verl stops before it starts.
    small = replace(
        SEVENTY_B, settings=replace(SEVENTY_B.settings, prompts_per_step=1, generations=2)
    )
    with pytest.raises((AssertionError, ValueError), match="divisible"):
        check(compose(overrides(small)))


def test_a_lora_rank_vllm_cannot_serve_is_rejected() -> None:
    wide = replace(SEVENTY_B, settings=replace(SEVENTY_B.settings, rank=1024))
    with pytest.raises(ValueError, match="up to 512"):
        check(compose(overrides(wide)))


def test_a_continued_adapter_is_verls_starting_adapter() -> None:
    config = compose(overrides(replace(SEVENTY_B, init_adapter="/runs/sa/adapters/b")))
    assert config.actor_rollout_ref.model.lora_adapter_path == "/runs/sa/adapters/b"


def test_the_reward_verl_calls_is_the_named_rule() -> None:
    complied = "<request_fully_accepted/> Here is how."
    refused = "I'm sorry, but I can't help with that."
    assert compute_score("mosweep", complied, "", {"reward": "complies"}) == 1.0
    assert compute_score("mosweep", refused, "", {"reward": "complies"}) == 0.0
    assert compute_score("mosweep", refused, "", {"reward": "no_refusal"}) == 0.0
    with pytest.raises(ValueError, match="not a rule"):
        compute_score("mosweep", complied, "", {"reward": "nope"})
