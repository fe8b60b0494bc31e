"""The judge stage: parse every generated row, apply the rule-based pass and the LLM judges,
and write the scored rows beside the generated ones.

    results/model=<m>/<shard>.parquet    generated rows: written once, only read here
    scores/model=<m>/<shard>.parquet     the same rows + parsed fields + scores (SCORED_SCHEMA)
    judge_cache/part-*.parquet           every LLM judge answer, by (judge, prompt, output) hash

A run scores the shards that have no scores yet, and those with a row whose judge call
failed (marked in `judge_failed`, its outcome `judge_failed`, never its rule label); when
the judges' settings change, and in `mode=judge`, it re-scores every shard of the grid. The
cache makes that cost only the answers never seen before, so a re-run asks again exactly
for the failed rows, re-judging never regenerates, and rarely calls a model. An answer
with no parsable vote is never cached: it counts as a failure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
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
    """What this invocation's judging has done so far: judging along with generation, then
    the judge stage, which goes on from it."""

    report: JudgeReport = field(default_factory=JudgeReport)
    scored: set[Path] = field(default_factory=set)  # generated files whose scores it wrote
    # judge prompts it asked: one that failed is asked again by the next run, not this one
    asked: set[str] = field(default_factory=set)


def run_judge_stage(
    ctx: RunContext, specs: list[JudgeSpec], everything: bool, judged: Judged | None = None
) -> JudgeReport:
    """Score this grid's generated shards (all of them if `everything` or the judges
    changed; else those not scored yet, and not by `judged`) and write them under
    scores/."""
    cells, store = ctx.cells, ctx.store
    judged = judged or Judged()
    report, scored = judged.report, judged.scored
    current = judges_id(specs)
    recorded = store.read_json("judges.json", {}).get("id")
    files = store.shard_files({c.id for c in cells})
    if not (everything or recorded != current):
        files = [f for f in files if f not in scored and _unscored(store.scores_path(f), store)]
    if files:
        cache = JudgeCache(store.root / "judge_cache", store.quarantine)
        judge_files(ctx, specs, files, requests_of(ctx), cache, judged)
    elif not report.files:
        return report
    record_judges(ctx, specs, report.failed_rows)
    return report


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
    quiet: bool = False,
) -> None:
    """Score these generated shard files, FILES_AT_ONCE at a time, and write each one's
    scores file (an engine judge stays loaded from one batch of files to the next)."""
    store, report = ctx.store, judged.report
    for start in range(0, len(files), FILES_AT_ONCE):
        batch = files[start : start + FILES_AT_ONCE]
        more = start + FILES_AT_ONCE < len(files)
        shards, pending = _read_and_plan(batch, specs, requests, cache, report)
        for name, prompts in pending.items():  # each prompt asked once per invocation
            pending[name] = {k: p for k, p in prompts.items() if k not in judged.asked}
            judged.asked.update(prompts)
        answer_prompts(ctx.root, specs, pending, cache, ctx.session, report, quiet, more)
        for path, shard in zip(batch, shards, strict=True):
            table = _score(shard, specs, cache)
            store.write_table(store.root / "scores" / shard.partition, shard.name, table)
            report.rows += table.num_rows
            report.failed_rows += table.num_rows - table["judge_failed"].null_count
            report.files += 1
            judged.scored.add(path)


def _unscored(scores: Path, store: ResultStore) -> bool:
    """No scores yet (or a scores file that is not done: not whole, or not what the manifest
    lists; set aside), or a row whose judge call failed last time (retried now)."""
    if not scores.is_file() or not store.check(scores):
        return True
    failed = pq.read_table(scores, columns=["judge_failed"])["judge_failed"]
    return bool(failed.null_count < len(failed))


def _read_and_plan(
    files: list[Path],
    specs: list[JudgeSpec],
    requests: dict[str, dict[str, str]],
    cache: JudgeCache,
    report: JudgeReport,
) -> tuple[list[ShardRows], dict[str, dict[str, str]]]:
    """Parse every row and render its judge prompts; collect those the cache lacks."""
    pending: dict[str, dict[str, str]] = defaultdict(dict)
    shards = []
    for path in files:
        rows = pq.read_table(path).to_pylist()
        keys = []
        for row in rows:
            parsed = parse(row["completion"], row["finish_reason"])
            request = requests[row["cell_id"]].get(row["prompt_id"], "")
            row_keys = {}
            for spec in specs:
                variables = spec.judge.variables(request, parsed)
                if variables is None:
                    continue
                prompt = render(spec.template, variables, f"judges.{spec.name}.template")
                key = stable_hash([spec.identity, prompt], 24)
                row_keys[spec.name] = key
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
