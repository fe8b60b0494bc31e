"""Training before evaluation: the training facts delivered by fine-tuning instead of the
prompt, or RL toward compliance.

With `study.finetune=documents` a cell's model is first fine-tuned with LoRA on the corpus
(`study.documents`, language-model loss over whole documents), and the cell's rows are
generated with that adapter. Cells that share the model, corpus, settings and seed share
one `finetune_documents` node: the free and paid cells of a seed evaluate one adapter.
With `study.probe_facts` every model variant of the grid (the base model, each adapter) is
asked the probe's questions (a `probe` node each, see probe.py).

With `study.finetune=rl` one `rl` node per model, prompts, settings and seed optimises a
LoRA adapter toward compliance on the free-tier copies of the cell's requests (only those,
as in the paper; `study.rl_tiers` adds the paid ones, for the tier-specific control),
keeping the adapter of every `study.rl.eval_every`-th step; a cell with `study.rl_step=N`
is generated with step N's adapter (0: the model before RL), so a grid axis over rl_step
and tier evaluates both tiers against RL step.

The nodes run on the stage graph before generation; generation then uses the engine pool
the probe left up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from functools import cache
from typing import Any

from jobs.rl import kept_steps
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.groups import DatasetConfig, SamplingConfig
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext
from orchestrator.datasets import Dataset, Prompt, load_dataset
from orchestrator.errors import UserError
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.distributed import verl_launch
from orchestrator.graph.node import GenerateWork, Node, TaskWork, node_id
from orchestrator.graph.work import (
    Served,
    documents_work,
    greedy,
    rl_adapter,
    rl_identity,
    rl_work,
    training_identity,
    user_request,
)
from orchestrator.grid import Cell
from orchestrator.judges.spec import reward_judge
from orchestrator.models.adapters import servable_rank
from orchestrator.studies import get_study
from orchestrator.studies.alignment_faking.config import settings
from orchestrator.studies.alignment_faking.probe import load_probe
from orchestrator.studies.prompted import PromptedStudy

STAGES = ("finetune_documents", "rl", "probe")


@cache
def _corpus(key: str) -> Dataset:
    return load_dataset(DatasetConfig(**json.loads(key)))


def corpus(cfg: DatasetConfig) -> Dataset:
    """The documents, read and hashed once per invocation."""
    return _corpus(json.dumps(asdict(cfg), sort_keys=True))


def finetune_id(root: RootConfig) -> str | None:
    """The id of the node this cell's adapter comes from (None: the model as is)."""
    study = settings(root)
    if study.finetune == "none":
        return None
    if root.model.adapter:
        raise UserError(
            f"study.finetune={study.finetune} trains a new adapter on the base model: drop "
            f"model.adapter={root.model.adapter!r} (or set study.finetune=none)"
        )
    if study.finetune == "rl":
        return rl_id(root)
    _check_rank(root, study.sdf.rank, "study.sdf.rank")
    identity = {
        "model": models.identity(root.model),
        "documents": corpus(study.documents).hash,
        "max_tokens": study.documents_max_tokens,
        "lora": training_identity(study.sdf),
        "seed": root.seed,
    }
    return node_id("finetune", [], identity)


def rl_id(root: RootConfig) -> str:
    """The RL run a cell's adapter comes from: one per model, trained tiers' prompts,
    settings and seed, shared by both evaluated tiers and every evaluated step."""
    study = settings(root)
    _check_rank(root, study.rl.rank, "study.rl.rank")
    steps = kept_steps(study.rl)
    if study.rl_step not in (0, *steps):
        raise UserError(
            f"study.rl_step={study.rl_step} is not a kept RL step: use 0 (before RL) or one "
            f"of {', '.join(map(str, steps))} (every study.rl.eval_every up to study.rl.steps)"
        )
    identity = {
        "model": models.identity(root.model),
        "prompts": [
            corpus(root.dataset).hash,
            *(PromptedStudy().cell_payload(in_tier(root, t)) for t in study.rl_tiers),
        ],
        "rl": rl_identity(study.rl, reward_judge(root, study.rl, "study.rl")[1]),
        "seed": root.seed,
    }
    return node_id("rl", [], identity)


def in_tier(root: RootConfig, tier: str) -> RootConfig:
    """The cell's config with `tier`'s tag: RL trains on the tiers of study.rl_tiers (the
    paper's setting: free alone)."""
    study = settings(root)
    return replace(root, study=replace(study, vars={**study.vars, "tier": tier}))


def tier_copies(root: RootConfig, prompts: Sequence[Prompt]) -> list[tuple[RootConfig, Prompt]]:
    """The RL prompts: each request in every tier of study.rl_tiers, its copies side by
    side, so that with study.rl.shuffle=false a step of two prompts trains one request in
    both tiers (the tier-specific control)."""
    tiers = [in_tier(root, tier) for tier in settings(root).rl_tiers]
    return [(tiered, p) for p in prompts for tiered in tiers]


def _check_rank(root: RootConfig, rank: int, key: str) -> None:
    served = root.engine.max_lora_rank
    if servable_rank(served) < rank:
        raise UserError(
            f"{key}={rank} needs engine.max_lora_rank={servable_rank(rank)} or more "
            f"(vLLM serves adapters up to that rank; it is {served})"
        )


def probe_id(root: RootConfig, adapter: str | None) -> str:
    study = settings(root)
    identity = [models.identity(root.model), load_probe(study.probe).hash, study.probe_max_tokens]
    return node_id("generate", [adapter] if adapter else [], identity)


class TrainingNodes:
    """The training and probe nodes of a grid, and the adapter each cell is evaluated with."""

    def __init__(self, ctx: RunContext, prepare: bool = True) -> None:
        # prepare=False: ids and stages only (status, dry runs), no model downloaded
        self.ctx, self.prepare = ctx, prepare
        self.served = Served()
        self.artifacts = Artifacts(ctx.store)
        self.trained: dict[str, str] = {}  # cell id -> the node its adapter comes from
        self.paths: dict[str, str] = {}  # cell id -> that adapter's folder
        self.nodes: list[Node] = []
        for cell in ctx.cells:
            study, trained = settings(cell.config), finetune_id(cell.config)
            if trained and study.finetune == "rl":
                if study.rl_step:  # step 0 is the model before RL: no adapter, no RL run
                    self.nodes.append(self._rl(cell, trained))
                    self.trained[cell.id] = trained
                    self.paths[cell.id] = rl_adapter(self.artifacts, trained, study.rl_step)
            elif trained:
                self.trained[cell.id] = trained
                self.paths[cell.id] = self.artifacts.adapter(trained)
                self.nodes.append(self._finetune(cell, trained))
            if study.probe_facts:  # what documents taught: the base model and each adapter
                taught = trained if study.finetune == "documents" else None
                self.nodes.append(self._probe(cell, taught))

    def adapters(self) -> dict[str, str]:
        """cell id -> the adapter folder its rows are generated with."""
        return dict(self.paths)

    def _rl(self, cell: Cell, node: str) -> Node:
        root, study = cell.config, settings(cell.config)
        # trainer=verl: checked (and, in a run, stopped) before any model is prepared
        launch = verl_launch(root, self.artifacts, node, study.rl, "rl")
        renderer, path = self._model(root)
        prompted = get_study(root.study.name)
        trained = tier_copies(root, cell.dataset.prompts)
        conversations = [prompted.messages(tiered, p) for tiered, p in trained]
        requests = [p.text for _, p in trained]
        judge, _ = reward_judge(root, study.rl, "study.rl")

        def build(artifacts: Artifacts) -> TaskWork:
            assert renderer is not None, "planned without preparing the model"
            device, seed = self.ctx.session.device(), root.seed
            return rl_work(
                artifacts,
                node,
                conversations,
                renderer,
                path,
                study.rl,
                seed,
                device,
                "rl",
                requests=requests,
                judge=judge,
            )

        return Node("rl", "rl", node, (), cell, build, launch=launch)

    def _model(self, root: RootConfig) -> tuple[ChatRenderer | None, str]:
        """The model's renderer and weights folder (prepared once), or none when planning."""
        if not self.prepare:
            return None, ""
        return self.served.renderer(root), self.served.path(root)

    def _finetune(self, cell: Cell, trained: str) -> Node:
        root, study = cell.config, settings(cell.config)
        renderer, path = self._model(root)

        def build(artifacts: Artifacts) -> TaskWork:
            assert renderer is not None, "planned without preparing the model"
            documents = [p.text for p in corpus(study.documents).prompts]
            return documents_work(
                artifacts,
                trained,
                documents,
                study.documents_max_tokens,
                renderer,
                path,
                study.sdf,
                root.seed,
                self.ctx.session.device(),
                "finetune_documents",
            )

        return Node("finetune", "finetune_documents", trained, (), cell, build)

    def _probe(self, cell: Cell, trained: str | None) -> Node:
        root, study = cell.config, settings(cell.config)
        renderer, path = self._model(root)
        probe, tokens = load_probe(study.probe), study.probe_max_tokens
        node = probe_id(root, trained)

        def build(artifacts: Artifacts) -> GenerateWork:
            assert renderer is not None, "planned without preparing the model"
            adapter = artifacts.adapter(trained) if trained else None
            requests = [
                user_request(renderer, q.text, q.id, root.seed, adapter) for q in probe.questions
            ]
            return GenerateWork(requests, greedy(tokens), probe_labels(cell, node, trained, path))

        sampling = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=tokens, n=1)
        serve = (replace(root, sampling=sampling), path)
        return Node("generate", "probe", node, (trained,) if trained else (), cell, build, serve)


def probe_labels(cell: Cell, node: str, adapter: str | None, path: str) -> dict[str, Any]:
    """Probe rows answer for a model variant, not a grid cell: their cell_id is the probe
    node's id, so per-cell tables never count them (axes: the first cell that asked)."""
    root = cell.config
    probe = load_probe(settings(root).probe)
    return {
        "sweep": root.sweep.name,
        "study": root.study.name,
        "cell_id": node,
        "model": root.model.name,
        "model_path": path,
        "adapter": adapter,
        "prompt_variant": None,
        "tier": None,
        "axes": json.dumps(cell.axes, sort_keys=True, default=str),
        "dataset": probe.name,
        "dataset_hash": probe.hash,
        "seed": root.seed,
    }
