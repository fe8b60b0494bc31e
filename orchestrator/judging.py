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

from jobs.judges import lexicon
from jobs.judges.llm import JUDGE_FAILED, JUDGES, LLMJudge, aggregate, band, outcome
from jobs.judges.parse import OK, parse
from jobs.judges.rules import SCORED, refusal_phrase, rule_label
from jobs.rows import SCORED_SCHEMA
from orchestrator import models
from orchestrator.config.compose import Composer, to_root
from orchestrator.config.schema import JudgeConfig, RootConfig
from orchestrator.errors import UserError, did_you_mean
from orchestrator.grid import Cell
from orchestrator.ids import stable_hash
from orchestrator.judge_backends import endpoint, run_on_endpoint, run_on_engines, run_on_lexicon
from orchestrator.judge_cache import JudgeCache
from orchestrator.progress import Progress
from orchestrator.scheduler import Failure
from orchestrator.session import Session
from orchestrator.store import ResultStore
from orchestrator.templates import read_template, render


@dataclass(frozen=True)
class JudgeSpec:
    """One configured LLM judge, resolved: its template text and what identifies its answers."""

    name: str
    cfg: JudgeConfig
    judge: LLMJudge
    template: str
    identity: str
    root: RootConfig | None  # engine backend: the config that serves the judge model


def judge_specs(root: RootConfig, overrides: list[str]) -> list[JudgeSpec]:
    """Resolve `judges`: registry names, template files, judge models and endpoints, before
    any job starts."""
    specs = []
    for name, cfg in root.judges.items():
        if name not in JUDGES:
            raise UserError(f"judges.{name} is not a known judge{did_you_mean(name, JUDGES)}")
        template = read_template(cfg.template, f"judges.{name}.template")
        serving = None
        if cfg.backend == "engine":
            serving = _model_root(overrides, cfg.model, name)
            model: object = models.identity(serving.model)
        elif cfg.backend == "lexicon":
            if name not in lexicon.LEXICON:
                raise UserError(
                    f"judges.{name}.backend=lexicon: there are phrase tables for "
                    f"{', '.join(lexicon.LEXICON)} only; use backend=engine or openai"
                )
            model = ["lexicon", lexicon.VERSION]
        else:
            endpoint_url, _ = endpoint_spec(name, cfg)
            model = [endpoint_url, cfg.model]
        identity = stable_hash(
            [
                name,
                cfg.backend,
                model,
                template,
                cfg.votes,
                cfg.temperature,
                cfg.max_tokens,
                cfg.seed,
            ],
            16,
        )
        specs.append(JudgeSpec(name, cfg, JUDGES[name], template, identity, serving))
    return specs


def endpoint_spec(name: str, cfg: JudgeConfig) -> tuple[str, str]:
    return endpoint(JudgeSpec(name, cfg, JUDGES[name], "", "", None))


def _model_root(overrides: list[str], model: str, judge: str) -> RootConfig:
    composer = Composer()
    try:
        return to_root(composer.compose([*overrides, f"model={model}"]))
    except UserError as e:
        raise UserError(f"judges.{judge}.model={model!r}: {e}") from None
    finally:
        composer.close()


def judges_id(specs: list[JudgeSpec]) -> str:
    """Changes whenever re-scoring could change a label: judge answers or thresholds."""
    return stable_hash([[s.identity, s.cfg.threshold, s.cfg.possible] for s in specs], 12)


@dataclass
class JudgeReport:
    files: int = 0
    rows: int = 0
    prompts: int = 0  # judge prompts this stage needed
    cached: int = 0  # of which answered from the cache
    calls: int = 0  # of which sent to a model now
    clipped: int = 0
    failed_rows: int = 0  # rows with a judge call that failed (marked, retried next run)
    failures: list[Failure] = field(default_factory=list)


@dataclass
class ShardRows:
    """One generated shard file's rows, parsed, with their judge-prompt keys."""

    partition: str
    name: str
    rows: list[dict[str, Any]]
    keys: list[dict[str, str]]  # per row: judge name -> cache key


def run_judge_stage(
    root: RootConfig,
    specs: list[JudgeSpec],
    cells: list[Cell],
    store: ResultStore,
    session: Session,
    everything: bool,
) -> JudgeReport:
    """Score this grid's generated shards (all of them if `everything` or the judges
    changed) and write them under scores/."""
    report = JudgeReport()
    current = judges_id(specs)
    recorded = store.read_json("judges.json", {}).get("id")
    files = store.shard_files({c.id for c in cells})
    if not (everything or recorded != current):
        files = [f for f in files if _unscored(store.scores_path(f))]
    if not files:
        return report
    cache = JudgeCache(store.root / "judge_cache")
    requests = {c.id: {p.id: p.text for p in c.dataset.prompts} for c in cells}
    shards, pending = _read_and_plan(files, specs, requests, cache, report)
    answer_prompts(root, specs, pending, cache, session, report)
    for shard in shards:
        table = _score(shard, specs, cache)
        store.write_table(store.root / "scores" / shard.partition, shard.name, table)
        report.rows += table.num_rows
        report.failed_rows += table.num_rows - table["judge_failed"].null_count
    report.files = len(shards)
    described = {"id": current, "judges": _describe(specs), "failed_rows": report.failed_rows}
    store.write_json("judges.json", described)
    return report


def _unscored(scores: Path) -> bool:
    """No scores yet, or a row whose judge call failed last time (retried now)."""
    if not scores.is_file():
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


def answer_prompts(
    root: RootConfig,
    specs: list[JudgeSpec],
    pending: dict[str, dict[str, str]],
    cache: JudgeCache,
    session: Session,
    report: JudgeReport,
) -> None:
    engine = [s for s in specs if s.cfg.backend == "engine" and pending.get(s.name)]
    if engine:
        done = run_on_engines(session, engine, pending, cache, root.shard_size, root.max_retries)
        report.calls += done.calls
        report.clipped += done.clipped
        report.failures += done.failures
    for spec in specs:
        if spec.cfg.backend == "lexicon" and pending.get(spec.name):
            report.calls += run_on_lexicon(spec, pending[spec.name], cache).calls
        if spec.cfg.backend == "openai" and pending.get(spec.name):
            prompts = pending[spec.name]
            progress = Progress(f"{root.sweep.name} judge {spec.name}", len(prompts), len(prompts))
            try:
                done = run_on_endpoint(spec, prompts, cache, progress)
            finally:
                progress.close()
            report.calls += done.calls
            report.failures += done.failures


def _score(shard: ShardRows, specs: list[JudgeSpec], cache: JudgeCache) -> pa.Table:
    by_name = {s.name: s for s in specs}
    described = json.dumps(_describe(specs), sort_keys=True)
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


def _describe(specs: list[JudgeSpec]) -> dict[str, dict[str, Any]]:
    """What produced the scores, without secrets (endpoint keys are never read into it)."""
    return {
        s.name: {
            "backend": s.cfg.backend,
            "model": s.cfg.model,
            "votes": s.cfg.votes,
            "temperature": s.cfg.temperature,
            "threshold": s.cfg.threshold,
            "possible": s.cfg.possible,
            "identity": s.identity,
        }
        for s in specs
    }
