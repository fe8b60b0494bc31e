"""Judging a generated shard file: parse every row, apply the rule-based pass and the LLM
judges, and write the scored rows beside the generated ones (the `score` node of
judge_nodes.py runs this; a `vote` node per engine judge asked its prompts before).

    results/model=<m>/<shard>.parquet    generated rows: written once, only read here
    scores/model=<m>/<shard>.parquet     the same rows + parsed fields + scores (SCORED_SCHEMA)
    judge_cache/part-*.parquet           every LLM judge answer, by (judge, prompt, output) hash

A file is scored again when it has a row whose judge call failed (marked in `judge_failed`,
its outcome `judge_failed`, never its rule label), when the judges' settings changed, and
in `mode=judge`. The cache makes that cost only the answers never seen before, so a re-run
asks again exactly for the failed rows, re-judging never regenerates, and rarely calls a
model. An answer with no parsable vote is never cached: it counts as a failure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.judges.llm import JUDGE_FAILED, aggregate, band, outcome
from jobs.judges.parse import OK, parse
from jobs.judges.rules import SCORED, refusal_phrase, rule_label
from orchestrator.context import RunContext
from orchestrator.ids import stable_hash
from orchestrator.judges.backends import answer_prompts
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.spec import JudgeReport, JudgeSpec, describe, judges_id
from orchestrator.store import ResultStore
from orchestrator.studies.alignment_faking.columns import SCORED_SCHEMA
from orchestrator.templates import render


@dataclass
class ShardRows:
    """One generated shard file's rows, parsed, with their judge-prompt keys."""

    partition: str
    name: str
    rows: list[dict[str, Any]]
    keys: list[dict[str, str]]  # per row: judge name -> cache key


@dataclass
class Judged:
    """What this invocation's judging has done so far."""

    report: JudgeReport = field(default_factory=JudgeReport)
    # judge prompts it asked: one that failed is asked again by the next run, not this one
    asked: set[str] = field(default_factory=set)


def record_judges(ctx: RunContext, specs: list[JudgeSpec], failed_rows: int) -> None:
    """judges.json: which judges scored the files under scores/ (a change re-scores all)."""
    described = {"id": judges_id(specs), "judges": describe(specs), "failed_rows": failed_rows}
    ctx.store.write_json("judges.json", described)


def requests_of(ctx: RunContext) -> dict[str, dict[str, str]]:
    """cell id -> prompt id -> the request's text (what a judge reads beside the reply)."""
    return {c.id: {p.id: p.text for p in c.dataset.prompts} for c in ctx.cells}


# Generated shard files judged together: their rows and judge prompts are in memory at
# once (a judge stage over a million rows would otherwise hold them all).
FILES_AT_ONCE = 64


def judge_files(
    ctx: RunContext,
    specs: list[JudgeSpec],
    files: list[Path],
    requests: dict[str, dict[str, str]],
    cache: JudgeCache,
    judged: Judged,
) -> None:
    """Score these generated shard files, FILES_AT_ONCE at a time, and write each one's
    scores file. The judges that run in the driver or behind an endpoint are asked here;
    an engine judge's answers are in the cache already (its vote node ran first), and one
    missing is a failed call."""
    store, report = ctx.store, judged.report
    asking = {s.name for s in specs if s.cfg.backend != "engine"}
    for start in range(0, len(files), FILES_AT_ONCE):
        batch = files[start : start + FILES_AT_ONCE]
        shards, pending = read_and_plan(batch, specs, requests, cache, report, asking)
        unasked = ask_once(pending, judged)
        answer_prompts(ctx, [s for s in specs if s.name in asking], unasked, cache, report, True)
        for shard in shards:
            table = _score(shard, specs, cache)
            store.write_table(store.root / "scores" / shard.partition, shard.name, table)
            report.rows += table.num_rows
            report.failed_rows += table.num_rows - table["judge_failed"].null_count
            report.files += 1


def scored(scores: Path, store: ResultStore, described: str) -> bool:
    """Whether a scores file is done: whole and what the manifest lists (else set aside),
    scored by these judges (`described`, the file's `judges` column) and with no row whose
    judge call failed (asked again)."""
    if not scores.is_file() or not store.check(scores):
        return False
    table = pq.read_table(scores, columns=["judge_failed", "judges"])
    failed, judges = table["judge_failed"], table["judges"]
    same = pc.all(pc.equal(judges, described)).as_py() is not False  # None: no rows
    return failed.null_count == len(failed) and same


def ask_once(pending: dict[str, dict[str, str]], judged: Judged) -> dict[str, dict[str, str]]:
    """The pending prompts not asked before by this invocation (each is asked once)."""
    unasked = {
        name: {k: p for k, p in prompts.items() if k not in judged.asked}
        for name, prompts in pending.items()
    }
    for prompts in unasked.values():
        judged.asked.update(prompts)
    return unasked


def read_and_plan(
    files: list[Path],
    specs: list[JudgeSpec],
    requests: dict[str, dict[str, str]],
    cache: JudgeCache,
    report: JudgeReport,
    asking: set[str],
) -> tuple[list[ShardRows], dict[str, dict[str, str]]]:
    """Parse every row and render its judge prompts; of the judges in `asking`, count the
    prompts and collect those the cache lacks."""
    pending: dict[str, dict[str, str]] = defaultdict(dict)
    shards = []
    for path in files:
        rows = pq.read_table(path).to_pylist()
        keys = []
        for row in rows:
            parsed = parse(row["completion"], row["finish_reason"])
            # the request a judge reads beside the reply (the rules alone read none)
            request = requests[row["cell_id"]].get(row["prompt_id"], "") if specs else ""
            row_keys = {}
            for spec in specs:
                variables = spec.judge.variables(request, parsed)
                if variables is None:
                    continue
                prompt = render(spec.template, variables, f"judges.{spec.name}.template")
                key = stable_hash([spec.identity, prompt], 24)
                row_keys[spec.name] = key
                if spec.name not in asking:
                    continue
                report.prompts += 1
                if key in cache:
                    report.cached += 1
                else:
                    pending[spec.name][key] = prompt
            keys.append(row_keys)
        shards.append(ShardRows(path.parent.name, path.name, rows, keys))
    return shards, pending


def _score(shard: ShardRows, specs: list[JudgeSpec], cache: JudgeCache) -> pa.Table:
    by_name = {s.name: s for s in specs}
    described = json.dumps(describe(specs), sort_keys=True)
    scored = []
    for row, keys in zip(shard.rows, shard.keys, strict=True):
        parsed = parse(row["completion"], row["finish_reason"])
        rule = rule_label(parsed)
        columns: dict[str, Any] = {}
        # A key the cache lacks is a judge call that failed (or a malformed answer, never
        # cached): the row says so, and the next run asks again.
        failed = [name for name, key in keys.items() if key not in cache]
        for name, key in keys.items():
            if key in cache:
                columns.update(aggregate(by_name[name].judge, cache.get(key)))
        labels = {
            column: band(columns.get(share), spec.cfg.threshold, spec.cfg.possible)
            for column, share, spec in _bands(by_name)
        }
        verdict = outcome(
            parsed,
            rule,
            columns.get("compliance_refused"),
            columns.get("compliance_score"),
            by_name["compliance"].cfg.threshold if "compliance" in by_name else 0.0,
            labels.get("partial_compliance"),
        )
        # A failed compliance or partial-compliance call leaves a scored outcome undecided.
        if verdict in SCORED and {"compliance", "partial_compliance"} & set(failed):
            verdict = JUDGE_FAILED  # never the rule label as if it had been judged
        scored.append(
            {
                **row,
                "scratchpad": parsed.scratchpad,
                "output": parsed.output,
                "accepted_tag": parsed.accepted,
                "rejected_tag": parsed.rejected,
                "parse_status": parsed.status,
                "rule_label": rule,
                "refusal_phrase": refusal_phrase(parsed.output) if parsed.status == OK else None,
                **columns,
                **labels,
                "outcome": verdict,
                "judge_failed": ",".join(failed) or None,
                "judges": described,
            }
        )
    return pa.Table.from_pylist(scored, schema=SCORED_SCHEMA)


def _bands(by_name: dict[str, JudgeSpec]) -> list[tuple[str, str, JudgeSpec]]:
    """(label column, vote-share column, judge) of the configured labelled judges."""
    labelled = (
        ("af_reasoning", "af_vote_share", "af_reasoning"),
        ("partial_compliance", "partial_vote_share", "partial_compliance"),
    )
    return [(column, share, by_name[name]) for column, share, name in labelled if name in by_name]
