"""The context-window check before any job: each request bounded from its cell's frame (one
rendering per cell), and rendered and tokenized exactly only where the bound does not fit or
the frame cannot be trusted. Jobs are then built a few shards ahead of dispatch."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator import models
from orchestrator.budget import bound, check_cell, exact_tokens, frame_for
from orchestrator.chat import Renderer, renderer_for
from orchestrator.datasets import Prompt
from orchestrator.errors import UserError
from orchestrator.grid import Cell
from orchestrator.plan import pending_shards, prepare_jobs
from orchestrator.run import load_sweep, run

VARIANTS = "[af_cot,af_no_cot,af_no_examples,af_brief,af_decision_brief,af_tier_title]"
HOSTED = ["model=openai-compatible", "model.path=m", "model.base_url=http://127.0.0.1:1/v1"]


def grid(*overrides: str) -> tuple[list[Cell], Renderer]:
    _, _, cells = load_sweep(list(overrides))
    model = cells[0].config.model
    return cells, renderer_for(model, "" if model.hosted else models.prepare_model(model))


@pytest.mark.parametrize("model", [["model=smollm2-135m"], ["model=tiny"], HOSTED])
def test_the_bound_is_never_below_a_request_s_tokens(model: list[str]) -> None:
    cells, renderer = grid("+sweep=af_grid", *model, f"grid.prompt_variant={VARIANTS}")
    pairs = 0
    for cell in cells:
        frame = frame_for(cell, renderer)
        assert frame is not None and frame.uses == 1
        for prompt in cell.dataset.prompts:
            tokens = exact_tokens(cell, prompt, renderer)
            limit = bound(frame, renderer, prompt.text)
            assert tokens <= limit
            if renderer.estimated:  # a hosted model's estimate is computed, not bounded
                assert tokens == limit
            pairs += 1
    assert pairs == 12 * 25


def test_requests_that_fit_by_their_bound_are_not_tokenized() -> None:
    # af_grid on SmolLM2 (2,048 tokens): with 512 to generate, af_cot's bound (~1,800: the
    # user turn's wrapper counted a token a byte) does not fit, its exact ~1,380 tokens do
    cells, renderer = grid("+sweep=af_grid", "model=smollm2-135m")
    assert [check_cell(c, c.dataset.prompts, renderer) for c in cells] == [25, 25, 0, 0]
    cells, renderer = grid("+sweep=af_grid", "model=smollm2-135m", "sampling.max_tokens=64")
    assert [check_cell(c, c.dataset.prompts, renderer) for c in cells] == [0, 0, 0, 0]


def test_a_request_whose_bound_does_not_fit_is_counted_and_refused_in_one_line() -> None:
    cells, renderer = grid("+sweep=af_grid", "model=smollm2-135m", "sampling.max_tokens=64")
    cell = cells[2]  # af_no_cot: its prompts fit their bound
    short, long = Prompt("short", "Hi."), Prompt("long", "Tell me everything. " * 600)
    assert check_cell(cell, [short], renderer) == 0
    with pytest.raises(UserError) as error:
        check_cell(cell, [short, long], renderer)
    assert "prompt 'long' has " in str(error.value)
    assert "+ sampling.max_tokens=64 > max_model_len=2048" in str(error.value)


def test_an_item_holding_a_control_token_s_text_is_counted_exactly() -> None:
    cells, renderer = grid("+sweep=af_grid", "model=smollm2-135m", "sampling.max_tokens=64")
    prompts = [Prompt("a", "plain"), Prompt("b", "ends <|im_end|> here"), Prompt("c", "x")]
    assert check_cell(cells[0], prompts, renderer) == 1


def test_a_frame_that_does_not_reproduce_the_messages_counts_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shouting upper-cases its turn: the frame's marker is not where the text goes.
    from tests.studies.shouting import ShoutingStudy

    monkeypatch.setattr(ShoutingStudy, "inserts_item_text", True, raising=False)
    cells, renderer = grid("+sweep=tiny", "study.name=tests.studies.shouting")
    cell = cells[0]
    assert frame_for(cell, renderer) is not None
    assert check_cell(cell, cell.dataset.prompts, renderer) == len(cell.dataset.prompts)
    monkeypatch.setattr(ShoutingStudy, "inserts_item_text", False)
    assert frame_for(cell, renderer) is None  # a study that does not say so: every one
    assert check_cell(cell, cell.dataset.prompts, renderer) == len(cell.dataset.prompts)


def test_preparing_a_grid_builds_no_job(monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestrator.plan as plan

    built: list[str] = []
    original = plan.build_task

    def counting(shard: Any, *args: Any) -> Any:
        built.append(shard.id)
        return original(shard, *args)

    monkeypatch.setattr(plan, "build_task", counting)
    _, root, cells = load_sweep(["+sweep=af_grid", "model=smollm2-135m"])
    prepared = prepare_jobs(root, pending_shards(cells, {}, 2))
    assert built == [] and len(prepared.shards) == 4 * 13
    assert [j.id for j in prepared.jobs()] == built == [s.id for s in prepared.shards]


class Queue:
    """What the graph runner asks of a scheduler to start engine nodes: how many wait, and
    a place to add."""

    def __init__(self) -> None:
        self.waiting: list[Any] = []

    def queued(self) -> int:
        return len(self.waiting)

    def add(self, job: Any, path: str) -> None:
        self.waiting.append(job)


def test_jobs_are_built_a_few_shards_ahead_of_dispatch(tmp_path: Path) -> None:
    from orchestrator.events import EventLog
    from orchestrator.generation import shard_nodes
    from orchestrator.graph.frontier import Frontier
    from orchestrator.graph.runner import AHEAD, GraphRunner
    from orchestrator.graph.shards import Shards
    from orchestrator.report import RunReport
    from orchestrator.store import ResultStore

    _, root, cells = load_sweep(["+sweep=af_grid", "model=smollm2-135m"])
    prepared = prepare_jobs(root, pending_shards(cells, {}, 1))  # 100 shards
    nodes = shard_nodes(prepared)
    tracker = SimpleNamespace(log=lambda metrics: None)
    ctx: Any = SimpleNamespace(
        root=root,
        store=ResultStore(tmp_path / "sweep"),
        report=RunReport(tmp_path, len(cells), 100),
        session=SimpleNamespace(tracker=tracker),
    )
    runner = GraphRunner(ctx, nodes)
    runner.frontier = Frontier(nodes, set(), {n.id: "pool" for n in nodes})
    runner.events = EventLog(None)
    queue = Queue()
    runner._start_ready(queue, None)  # type: ignore[arg-type]
    assert queue.queued() == AHEAD and runner.frontier.needed("pool")  # up for the rest
    dispatched = queue.waiting[:5]
    del queue.waiting[:5]
    runner._start_ready(queue, None)  # type: ignore[arg-type]
    assert queue.queued() == AHEAD
    shards = Shards(ctx, nodes)
    shards.stopped(list(runner.frontier.pending), EventLog(None))  # interrupted now
    never = shards.failures()  # the rest are recorded, none built
    assert len(never) == 100 - AHEAD - 5 and never[0].error == "interrupted before it started"
    built = [j.id for j in dispatched + queue.waiting]
    assert built + [f.shard_id for f in never] == [s.id for s in prepared.shards]


def test_a_dry_run_of_a_big_cell_estimates_its_tokens_from_a_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("id,text\n" + "".join(f"r{i},question {i}?\n" for i in range(100)))
    source = ["dataset.source=csv", f"dataset.path={data}", "dataset.text_field=text"]
    source.append("dataset.limit=100")
    overrides = ["+sweep=af_grid", f"output_root={tmp_path}", "mode=dry", *source]
    run([*overrides, "model=smollm2-135m", "sampling.max_tokens=64"])
    out = capsys.readouterr().out
    assert "tokens: about " in out
    assert "(4 cells estimated from 64 of their requests each; every request was checked " in out
    assert "0 of 400 tokenized to tell" in out
