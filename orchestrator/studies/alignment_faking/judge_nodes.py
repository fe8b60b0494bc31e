"""Judging as graph nodes, run by the one graph runner beside training and generation.

For every generated shard file of the grid (on disk before this run, or written by one of
its generate nodes): a `vote` node per judge served by an engine (that judge's prompts for
the file's rows, answered into the judge cache) and a `score` node (the file's rows parsed,
labelled by the rules, the endpoint and phrase-table judges asked, every row scored from
the cache: its scores file, on the driver's worker thread). A file's nodes start as soon as
it is written, so judging goes along with generation; a judge that is the model under test
is served by generation's engine, which stays loaded while a vote node needs it.

A score node is done when its scores file is whole, scored by these judges (the file's own
`judges` column) and has no row whose judge call failed; mode=judge does every one again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from orchestrator.context import RunContext
from orchestrator.graph.node import GenerateWork, Node, ThreadWork
from orchestrator.grid import Cell
from orchestrator.judges.backends import judge_renderer, vote_work
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.spec import JudgeSpec, describe
from orchestrator.plan import Shard
from orchestrator.store import SHARD_FILE, shard_name
from orchestrator.studies.alignment_faking.judging import (
    Judged,
    ask_once,
    judge_files,
    read_and_plan,
    requests_of,
    scored,
)

# bench/streaming.py turns this on to measure the lockstep way: every score node waits for
# every generate node, as a judge stage after generation did.
LOCKSTEP = False


class Judging:
    def __init__(self, ctx: RunContext, specs: list[JudgeSpec]) -> None:
        self.ctx, self.specs = ctx, specs
        self.everything = ctx.root.mode == "judge"  # re-score every file of the grid
        self.judged = Judged()
        self.cache = JudgeCache(ctx.store.root / "judge_cache", ctx.store.quarantine)
        # cell id -> prompt id -> text: what a judge reads (the rules alone read none)
        self.requests = requests_of(ctx) if specs else {}
        self.described = json.dumps(describe(specs), sort_keys=True)
        # when the first judging node started and the last score node ended (judging goes
        # along with generation: this span is judging's, not the run's)
        self.first: float | None = None
        self.last = 0.0
        self.engines = {s.name: judge_renderer(s) for s in specs if s.cfg.backend == "engine"}

    def nodes(self, shards: list[Shard]) -> list[Node]:
        """The vote and score nodes of every shard file of the grid: those on disk, and
        those the generate nodes of `shards` will write (their ids are the shards')."""
        store = self.ctx.store
        cells = {c.id: c for c in self.ctx.cells}
        files: dict[Path, tuple[Cell, tuple[str, ...]]] = {}
        for path in store.shard_files(set(cells)):
            match = SHARD_FILE.match(path.name)
            assert match is not None, "shard_files lists shard files"
            files[path] = (cells[match[1]], ())
        writing = tuple(s.id for s in shards)
        for shard in shards:
            model = f"model={shard.cell.model}"
            path = store.results / model / shard_name(shard.cell.id, shard.start, shard.end)
            files[path] = (shard.cell, writing if LOCKSTEP else (shard.id,))
        out = []
        for path, (cell, after) in files.items():
            stem = path.name.removesuffix(".parquet")
            done = self._done(path)
            work = ThreadWork(path, self.score)
            votes = [self._vote(path, stem, cell, after, name, done) for name in self.engines]
            out += votes
            out.append(
                Node(
                    "score",
                    "score",
                    f"score-{stem}",
                    (*after, *(v.id for v in votes)),
                    cell,
                    _built(work),
                    done=done,
                    per_shard=True,
                    soft=frozenset(v.id for v in votes),
                )
            )
        return out

    def _vote(
        self, path: Path, stem: str, cell: Cell, after: tuple[str, ...], name: str, done: Any
    ) -> Node:
        spec = next(s for s in self.specs if s.name == name)
        root, weights, renderer = self.engines[name]

        def build(artifacts: object) -> GenerateWork:
            self.first = self.first or time.monotonic()
            report = self.judged.report
            _, pending = read_and_plan([path], [spec], self.requests, self.cache, report, {name})
            prompts = ask_once(pending, self.judged).get(name, {})
            return vote_work(spec, prompts, self.cache, report, renderer)

        vote_id = f"vote-{name}-{stem}"
        return Node(
            "vote", "judge", vote_id, after, cell, build, (root, weights), done=done, per_shard=True
        )

    def _done(self, path: Path) -> Any:
        scores = self.ctx.store.scores_path(path)
        return lambda: not self.everything and scored(scores, self.ctx.store, self.described)

    def score(self, paths: list[Path]) -> None:
        """Score these generated files (on the driver's worker thread)."""
        self.first = self.first or time.monotonic()
        judge_files(self.ctx, self.specs, paths, self.requests, self.cache, self.judged)
        self.last = time.monotonic()

    def seconds(self) -> float:
        """From the first judging node's start to the last score node's end."""
        return max(0.0, self.last - self.first) if self.first is not None else 0.0


def _built(work: ThreadWork) -> Any:
    """A score node's build: its work is known before its file exists."""
    return lambda artifacts: work
