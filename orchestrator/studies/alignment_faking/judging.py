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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.judges.llm import JUDGE_FAILED, aggregate, band, outcome
from jobs.judges.parse import OK, parse
from jobs.judges.rules import SCORED, refusal_phrase, rule_label
from jobs.rows import SCORED_SCHEMA
from orchestrator.context import RunContext
from orchestrator.ids import stable_hash
from orchestrator.judges.backends import answer_prompts
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.spec import JudgeReport, JudgeSpec, describe, judges_id
from orchestrator.store import ResultStore
from orchestrator.templates import render


@dataclass
class ShardRows:
    """One generated shard file's rows, parsed, with their judge-prompt keys."""

    partition: str
    name: str
    rows: list[dict[str, Any]]
    keys: list[dict[str, str]]  # per row: judge name -> cache key


def run_judge_stage(ctx: RunContext, specs: list[JudgeSpec], everything: bool) -> JudgeReport:
    """Score this grid's generated shards (all of them if `everything` or the judges
    changed) and write them under scores/."""
    root, cells, store = ctx.root, ctx.cells, ctx.store
    report = JudgeReport()
    current = judges_id(specs)
    recorded = store.read_json("judges.json", {}).get("id")
    files = store.shard_files({c.id for c in cells})
    if not (everything or recorded != current):
        files = [f for f in files if _unscored(store.scores_path(f), store)]
    if not files:
        return report
    cache = JudgeCache(store.root / "judge_cache", store.quarantine)
    requests = {c.id: {p.id: p.text for p in c.dataset.prompts} for c in cells}
    shards, pending = _read_and_plan(files, specs, requests, cache, report)
    answer_prompts(root, specs, pending, cache, ctx.session, report)
    for shard in shards:
        table = _score(shard, specs, cache)
        store.write_table(store.root / "scores" / shard.partition, shard.name, table)
        report.rows += table.num_rows
        report.failed_rows += table.num_rows - table["judge_failed"].null_count
    report.files = len(shards)
    described = {"id": current, "judges": describe(specs), "failed_rows": report.failed_rows}
    store.write_json("judges.json", described)
    return report


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
