"""Nodes: one unit of work of a cell's stage graph, with declared inputs.

A node's id is a content hash of its kind, its inputs' ids and its output-changing settings
(never transport settings such as CPUs or checkpoint intervals), so a re-run skips every
node whose output exists, and a changed setting redoes exactly the nodes downstream of it.
What a node does is built only when its inputs exist (`build`), because it reads them: a
training set from the answers before it, an adapter path from the training before it.

Kinds are a registry (`KINDS`): where a kind runs (an engine pool, the driver, a Ray task)
and where its output goes. A study may register its own (`register_kind`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from jobs.rows import Request
from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError
from orchestrator.grid import Cell
from orchestrator.ids import stable_hash

if TYPE_CHECKING:
    from orchestrator.graph.artifacts import Artifacts
    from orchestrator.plan import Shard

RunsOn = Literal["engine", "driver", "task", "thread"]


@dataclass(frozen=True)
class Kind:
    # engine: a generation batch on a shared pool; task: a Ray task; thread: a function on
    # the driver's worker thread (graph/threads.py), beside the loop that dispatches
    runs_on: RunsOn
    # an artifact folder (answers, data, adapters), "rows": the results store, or where a
    # study keeps it (the node's own `done` says whether it exists)
    output: str
    suffix: str = ""  # the artifact file's suffix; "" for a folder


KINDS: dict[str, Kind] = {
    # rows of the results store, each carrying its grid cell (the study's measurements)
    "generate": Kind("engine", "rows"),
    # a stage's own data: prompt id -> completion (the base model's answers, a teacher's)
    "answer": Kind("engine", "answers", ".json"),
    # a judge model's verdicts: prompt id -> the study's parse of the judge's reply
    "judge": Kind("engine", "answers", ".json"),
    # a judge model's votes on one shard file's judge prompts, kept in the judge cache
    "vote": Kind("engine", "judge_cache"),
    # one shard file's rows parsed, labelled and scored from the cache: its scores file
    "score": Kind("thread", "scores"),
    # a data set computed in the driver from its inputs (a training set), as JSONL
    "derive": Kind("driver", "data", ".jsonl"),
    # a LoRA adapter trained from a data set (and maybe an adapter to continue)
    "finetune": Kind("task", "adapters"),
    # a LoRA adapter optimised online against a reward: a folder of step-NNNNNN/ adapters
    "rl": Kind("task", "adapters"),
}


def register_kind(name: str, kind: Kind) -> None:
    """A study's own node kind (e.g. an RL run as a Ray task)."""
    if name in KINDS and KINDS[name] != kind:
        raise ValueError(f"node kind {name!r} is already registered differently")
    KINDS[name] = kind


def node_id(kind: str, inputs: list[str], identity: Any) -> str:
    """The content hash naming a node's output."""
    return stable_hash([kind, sorted(inputs), identity], 16)


@dataclass(frozen=True)
class GenerateWork:
    """A batch of requests on one model (maybe with an adapter), greedy or sampled."""

    requests: list[Request]
    sampling: dict[str, Any]
    labels: dict[str, Any]  # row columns (generate) or the progress label
    parse: Callable[[str], Any] | None = None  # judge: reply -> verdict
    # where the rows go instead of the store or an artifact (a vote node's: the judge cache)
    collect: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class TaskWork:
    """A function run as a Ray task (a training job); it returns a JSON-able summary."""

    function: Callable[..., dict[str, Any]]
    args: tuple[Any, ...]
    cpus: float  # also its threads (OMP_NUM_THREADS)
    label: str
    # credentials the job reads from its environment (a judge endpoint's key), sent from the
    # driver's as an argument, never in a runtime_env (graph/tasks.py)
    secret_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class ThreadWork:
    """Work done on the driver's worker thread (graph/threads.py). Works queued together
    with the same `run` go to it in one call, as a list of their items, so a judge endpoint
    is asked as many prompts at once as shards were written meanwhile."""

    item: Any
    run: Callable[[list[Any]], None]


@dataclass(frozen=True)
class Node:
    kind: str
    stage: str  # the study's name for the step (make_data, insert_backdoor, evaluate_before)
    id: str
    inputs: tuple[str, ...]
    cell: Cell  # the grid cell it serves first; nodes of equal id are one node
    build: Callable[[Artifacts], Any] = field(compare=False, repr=False)
    # engine kinds: the config whose model and engine settings serve it, and the weights path
    serve: tuple[RootConfig, str] | None = field(default=None, compare=False, repr=False)
    # a node run by another system (an rl node trained by verl): its command, which a dry
    # run prints
    launch: str = field(default="", compare=False, repr=False)
    # a generate node that is a shard of its cell's rows (prompts shard.start to shard.end,
    # its id the shard's): written where a prompted study's rows go, counted in the rows
    # progress line, and built into a plan.Job (its prompts rendered) only near dispatch
    shard: Shard | None = field(default=None, compare=False, repr=False)
    # a node whose output the artifact store does not hold (a shard file's scores) says
    # itself whether it exists
    done: Callable[[], bool] | None = field(default=None, compare=False, repr=False)
    # a node of one shard file (its votes, its scores): counted by shards in its stage's
    # progress line, as generation's shards are, not a line per node
    per_shard: bool = field(default=False, compare=False, repr=False)
    # inputs whose failure does not block this node: it starts once each has finished or
    # failed (a file's score node after its vote nodes: a failed vote batch leaves those
    # rows judge_failed, counted and asked again by the next run, not the file unscored)
    soft: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @property
    def spec(self) -> Kind:
        if self.kind not in KINDS:
            raise UserError(f"node kind {self.kind!r} is not registered (graph/node.py KINDS)")
        return KINDS[self.kind]


def make_node(
    kind: str,
    stage: str,
    cell: Cell,
    inputs: list[str],
    identity: Any,
    build: Callable[[Artifacts], Any],
    serve: tuple[RootConfig, str] | None = None,
) -> Node:
    return Node(kind, stage, node_id(kind, inputs, identity), tuple(inputs), cell, build, serve)
