"""What the driver hands to engine and training workers: their engine settings, their
environment (through Ray's runtime_env) and their hub credentials (as an argument)."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.engines import EngineSettings
from jobs.engines.base import HostedSettings
from jobs.published import ROOT_ENV, STORE_ENV
from orchestrator.budget import max_model_len
from orchestrator.config.schema import RootConfig
from orchestrator.mirror import is_remote, local_folder
from orchestrator.models.adapters import adapter_rank, servable_rank

# The hub's cache location, the fault suite's poisoned-prompt switch (jobs/generate.py) and
# a control's planted replies (jobs/engines/scripted.py): from the driver to the engines
# through Ray's runtime_env.
FORWARDED_ENV = (
    "HF_HOME",
    "HF_ENDPOINT",
    "MOSWEEP_FAULT_POISON",
    "MOSWEEP_SCRIPTED_REPLIES",
    "MOSWEEP_FAKE_LATENCY_S",  # the fake engine's seconds a request (tests, benchmarks)
    # where an object store is and how to reach it (no secret: the keys travel below)
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
# Credentials (hub tokens for gated models, an object store's keys). Never in a runtime_env:
# Ray's runtime-env agent writes those into its session logs. They travel as an argument of
# the engine or training job instead, which sets them in its own process (jobs/generate.py,
# jobs/finetune.py).
SECRET_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    # an object store's keys: workers publish and fetch adapters there (jobs/published.py)
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)


def worker_secrets(names: tuple[str, ...] = SECRET_ENV) -> dict[str, str]:
    """The driver's credentials (hub tokens by default), for the workers (kept out of every
    log and file)."""
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def engine_kind(cfg: RootConfig) -> str:
    """The engine registry name a cell's model needs: a hosted model's source (openai,
    anthropic), else engine.name (vllm, or fake in unit tests)."""
    return cfg.model.source if cfg.model.hosted else cfg.engine.name


def hosted_secrets(cfg: RootConfig) -> tuple[str, ...]:
    """The environment variable holding a hosted model's key, to travel as a secret (an
    engine on another node does not see the driver's environment)."""
    from jobs.engines.anthropic_chat import DEFAULT_KEY_ENV

    model = cfg.model
    default = DEFAULT_KEY_ENV if model.source == "anthropic" else None
    name = model.api_key_env or default if model.hosted else None
    return (name,) if name else ()


def hosted_settings(cfg: RootConfig) -> HostedSettings | None:
    model = cfg.model
    if not model.hosted:
        return None
    return HostedSettings(
        base_url=model.base_url,
        api_key_env=model.api_key_env,
        concurrency=model.api.concurrency,
        requests_per_minute=model.api.requests_per_minute,
        tokens_per_minute=model.api.tokens_per_minute,
        max_retries=model.api.max_retries,
        timeout_s=model.api.timeout_s,
        # beside the results, so a re-run (or a re-run after a kill) never pays twice
        cache_dir=str(sweep_folder(cfg) / "response_cache"),
    )


def sweep_folder(cfg: RootConfig) -> Path:
    """The sweep folder on this machine (of a sweep on an object store: its local copy)."""
    if is_remote(cfg.output_root):
        return local_folder(cfg.output_root, cfg.sweep.name)
    return Path(cfg.output_root).expanduser().resolve() / cfg.sweep.name


def engine_settings(cfg: RootConfig, device: str, model_path: str) -> EngineSettings:
    from orchestrator.models import commit

    if cfg.model.hosted:  # no weights here: only how to call the endpoint matters
        return EngineSettings(
            model_path, "api", "api", max_model_len(cfg), hosted=hosted_settings(cfg)
        )
    on_cpu = device == "cpu"
    return EngineSettings(
        revision=commit(cfg.model),
        model_path=model_path,
        device=device,
        dtype=cfg.engine.cpu_dtype if on_cpu else (cfg.engine.dtype or cfg.model.dtype),
        max_model_len=max_model_len(cfg),
        tensor_parallel_size=1
        if on_cpu
        else (cfg.engine.tensor_parallel_size or cfg.model.tensor_parallel_size),
        # CPU: eager and in-process start in seconds; compiled mode takes about a minute.
        enforce_eager=cfg.engine.enforce_eager or on_cpu,
        enable_prefix_caching=cfg.engine.enable_prefix_caching,
        gpu_memory_utilization=cfg.engine.gpu_memory_utilization,
        max_num_seqs=cfg.engine.max_num_seqs,
        # enough for the served adapter (model.adapter), if any, rounded up to a rank vLLM takes
        max_lora_rank=servable_rank(
            max(
                cfg.engine.max_lora_rank,
                adapter_rank(cfg.model.adapter) if cfg.model.adapter else 0,
            )
        ),
    )


def shards_in_flight(cfg: RootConfig) -> int:
    """Shards queued per replica: by default enough to keep 2 x max_num_seqs requests waiting,
    so the engine's batch is full at every step, shard boundaries included."""
    if cfg.engine.shards_in_flight:
        return cfg.engine.shards_in_flight
    return max(1, -(-2 * cfg.engine.max_num_seqs // cfg.shard_size))


def worker_env(cfg: RootConfig, device: str, cache: str) -> dict[str, str]:
    """Environment of the engine processes (Ray passes it through runtime_env)."""
    # Engine logs reach the driver's terminal through Ray: keep only errors there.
    env = {
        "VLLM_LOGGING_LEVEL": "ERROR",
        "TORCH_CPP_LOG_LEVEL": "ERROR",
        "PYTHONWARNINGS": "ignore",
        "TQDM_DISABLE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for name in FORWARDED_ENV:  # workers on other nodes do not see the driver's shell
        if name in os.environ:
            env[name] = os.environ[name]
    if is_remote(cfg.output_root):  # adapters of the driver's copy come from the store
        env[STORE_ENV] = f"{cfg.output_root}/{cfg.sweep.name}"
        env[ROOT_ENV] = str(local_folder(cfg.output_root, cfg.sweep.name))
    if cfg.model.source != "hub":  # local weights: never wait on a hub that may be unreachable
        env["HF_HUB_OFFLINE"] = "1"
    if device == "cpu":
        env.update(
            {
                # The engine in the actor's own process: no extra process to spawn or orphan.
                "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
                "VLLM_CPU_KVCACHE_SPACE": str(cfg.engine.cpu_kvcache_gib),
                "VLLM_CACHE_ROOT": f"{cache}/vllm",
                # Ray gives a worker num_cpus threads (1 by default), but the engine's
                # forward pass is what uses the cores: measured on 2 cores, 1 thread left
                # one idle (bench/cpu_share.py). vLLM binds threads itself only in its
                # multiprocessing mode, which the in-actor engine does not use.
                "OMP_NUM_THREADS": str(cfg.engine.cpu_threads or os.cpu_count() or 1),
            }
        )
    return env
