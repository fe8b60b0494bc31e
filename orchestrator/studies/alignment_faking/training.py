"""Training before evaluation: the training facts delivered by fine-tuning, not the prompt.

With `study.finetune=documents` a cell's model is first fine-tuned with LoRA on the corpus
(`study.documents`, language-model loss over whole documents), and the cell's rows are
generated with that adapter. Cells that share the model, corpus, settings and seed share
one `finetune_documents` node: the free and paid cells of a seed evaluate one adapter.
With `study.probe_facts` every model variant of the grid (the base model, each adapter) is
asked the probe's questions (a `probe` node each, see probe.py).

The nodes run on the stage graph before generation; generation then uses the engine pool
the probe left up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from functools import cache
from typing import Any

from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.groups import DatasetConfig, SamplingConfig
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext
from orchestrator.datasets import Dataset, load_dataset
from orchestrator.errors import UserError
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.node import GenerateWork, Node, TaskWork, node_id
from orchestrator.graph.work import Served, documents_work, greedy, training_identity, user_request
from orchestrator.grid import Cell
from orchestrator.models.adapters import servable_rank
from orchestrator.studies.alignment_faking.config import settings
from orchestrator.studies.alignment_faking.probe import load_probe

STAGES = ("finetune_documents", "probe")


@cache
def _corpus(key: str) -> Dataset:
    return load_dataset(DatasetConfig(**json.loads(key)))


def corpus(cfg: DatasetConfig) -> Dataset:
    """The documents, read and hashed once per invocation."""
    return _corpus(json.dumps(asdict(cfg), sort_keys=True))


def finetune_id(root: RootConfig) -> str | None:
    """The id of the adapter this cell's rows are generated with (None: the model as is)."""
    study = settings(root)
    if study.finetune == "none":
        return None
    if root.model.adapter:
        raise UserError(
            f"study.finetune={study.finetune} trains a new adapter on the base model: drop "
            f"model.adapter={root.model.adapter!r} (or set study.finetune=none)"
        )
    rank, served = study.sdf.rank, root.engine.max_lora_rank
    if servable_rank(served) < rank:
        raise UserError(
            f"study.sdf.rank={rank} needs engine.max_lora_rank={servable_rank(rank)} or more "
            f"(vLLM serves adapters up to that rank; it is {served})"
        )
    identity = {
        "model": models.identity(root.model),
        "documents": corpus(study.documents).hash,
        "max_tokens": study.documents_max_tokens,
        "lora": training_identity(study.sdf),
        "seed": root.seed,
    }
    return node_id("finetune", [], identity)


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
        self.trained: dict[str, str] = {}  # cell id -> its finetune node id
        self.nodes: list[Node] = []
        for cell in ctx.cells:
            trained = finetune_id(cell.config)
            if trained:
                self.trained[cell.id] = trained
                self.nodes.append(self._finetune(cell, trained))
            if settings(cell.config).probe_facts:
                self.nodes.append(self._probe(cell, trained))

    def adapters(self) -> dict[str, str]:
        """cell id -> the adapter folder its rows are generated with."""
        return {cell: self.artifacts.adapter(node) for cell, node in self.trained.items()}

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
        "trigger": None,
        "axes": json.dumps(cell.axes, sort_keys=True, default=str),
        "dataset": probe.name,
        "dataset_hash": probe.hash,
        "seed": root.seed,
    }
