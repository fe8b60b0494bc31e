"""A study defined outside the engine, for tests, on the generic stage graph: the model
answers each question in a tone (generate), judges its own answers (judge: the model under
test is its judge, so it reuses the engine), is fine-tuned on the answers with a kinder
reply where its judge said no (derive, finetune), and answers again with that adapter
(generate). Its conf files are under conf/ here (hydra.searchpath); no engine file names it.

    python -m orchestrator hydra.searchpath=[file://$PWD/tests/studies/tutor/conf] +sweep=tutor
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from analysis.report import Report, prompted_sections
from orchestrator import models
from orchestrator.chat import ChatRenderer
from orchestrator.config.schema import RootConfig, TrainConfig
from orchestrator.context import RunContext, StudyRun
from orchestrator.datasets import Prompt
from orchestrator.graph.artifacts import Artifacts
from orchestrator.graph.node import GenerateWork, Node, TaskWork, make_node, node_id
from orchestrator.graph.study import GraphRun
from orchestrator.graph.work import finetune_work, greedy, user_request
from orchestrator.grid import Cell
from orchestrator.plan import labels
from orchestrator.studies import Message

CONF = Path(__file__).parent / "conf"
JUDGE = "Is this answer {tone}? Reply YES or NO.\nAnswer: {answer}"
KINDER = "Here is a careful answer."


def verdict(reply: str) -> bool:
    return "yes" in reply.lower()


class TutorStudy:
    name = "tutor"
    # a column of its own on every row, declared here: no engine file names it
    columns = (pa.field("tone", pa.string()),)

    def cell_payload(self, cfg: RootConfig) -> dict[str, Any]:
        return {"tutor": dict(cfg.study.vars)}

    def messages(self, cfg: RootConfig, prompt: Prompt) -> list[Message]:
        return [{"role": "user", "content": f"({cfg.study.vars['tone']}) {prompt.text}"}]

    def labels(self, cfg: RootConfig) -> dict[str, str | None]:
        return {"prompt_variant": None, "tone": str(cfg.study.vars["tone"])}

    def runner(self, ctx: RunContext) -> StudyRun:
        return GraphRun(ctx, plan)

    def report_rows(self, sweep_dir: Path) -> str:
        return "results"

    def sections(self, sweep_dir: Path, rows: pa.Table, report: Report) -> None:
        prompted_sections(rows, report)
        counts = rows.group_by(["cell_id", "stage"]).aggregate([("prompt_id", "count")])
        report.tables["tutor"] = counts.rename_columns(["cell_id", "stage", "rows"])


def plan(ctx: RunContext) -> list[Node]:
    return [node for cell in ctx.cells for node in cell_nodes(ctx, cell)]


def cell_nodes(ctx: RunContext, cell: Cell) -> list[Node]:
    cfg = cell.config
    path = models.prepare_model(cfg.model)
    renderer = ChatRenderer(cfg.model, path)
    serve = (cfg, path)
    tone, tokens = cfg.study.vars["tone"], cfg.sampling.max_tokens
    settings = TrainConfig(**cfg.study.vars["train"])
    row_labels = labels(cell, cfg.sweep.name, path)
    study = TutorStudy()

    def ask(adapter: str | None) -> GenerateWork:
        requests = [
            user_request(renderer, study.messages(cfg, p)[0]["content"], p.id, cfg.seed, adapter)
            for p in cell.dataset.prompts
        ]
        return GenerateWork(requests, greedy(tokens), {**row_labels, "adapter": adapter})

    answer = make_node("generate", "answer", cell, [], [cell.id], lambda a: ask(None), serve)

    def judge_work(artifacts: Artifacts) -> GenerateWork:
        rows = artifacts.rows(answer.id).to_pylist()
        requests = [
            user_request(
                renderer, JUDGE.format(tone=tone, answer=r["completion"]), r["prompt_id"], 0
            )
            for r in rows
        ]
        return GenerateWork(requests, greedy(4), row_labels, parse=verdict)

    judge = make_node("judge", "judge", cell, [answer.id], [JUDGE], judge_work, serve)

    def training_set(artifacts: Artifacts) -> list[dict[str, Any]]:
        verdicts = artifacts.answers(judge.id)
        return [
            {
                "prompt": r["rendered_prompt"],
                "completion": r["completion"] if verdicts[r["prompt_id"]] else KINDER,
            }
            for r in artifacts.rows(answer.id).to_pylist()
        ]

    data = make_node("derive", "make_data", cell, [answer.id, judge.id], [], training_set)
    identity = [models.identity(cfg.model), cfg.study.vars["train"], cfg.seed]
    tuned_id = node_id("finetune", [data.id], identity)

    def train(artifacts: Artifacts) -> TaskWork:
        return finetune_work(
            artifacts, tuned_id, data.id, renderer, path, settings, cfg.seed,
            ctx.session.device(), "finetune",
        )  # fmt: skip

    tuned = Node("finetune", "finetune", tuned_id, (data.id,), cell, train)

    def ask_tuned(artifacts: Artifacts) -> GenerateWork:
        return ask(artifacts.adapter(tuned.id))

    after = make_node("generate", "answer_tuned", cell, [tuned.id], [cell.id], ask_tuned, serve)
    return [answer, judge, data, tuned, after]


STUDY = TutorStudy()
