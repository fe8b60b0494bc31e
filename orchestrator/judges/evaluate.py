"""`mode=judge_eval`: score a labelled set with one configured judge, exactly as the judge
stage scores rows (same template, votes, cache and backends), and measure it against the
labels: AUROC of the vote share with its bootstrap interval, accuracy, precision and recall
at the judge's threshold with Wilson intervals, kappa, a calibration table and a threshold
sweep (analysis/judge_eval.py).

    python -m orchestrator +sweep=af_grid mode=judge_eval                 # 12 built-in items
    ... judge_eval.labels.source=hf judge_eval.labels.path=<dataset id>  # e.g. human labels

Writes runs/<sweep>/judge_eval/<judge>.parquet (one row per item), which the report reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analysis.judge_eval import ITEM_SCHEMA, calibration, judge_metrics, printed
from analysis.summary import format_table
from jobs.judges.llm import aggregate
from jobs.judges.parse import Parsed, parse
from orchestrator.config.schema import RootConfig
from orchestrator.context import RunContext
from orchestrator.datasets import read_records, require_columns
from orchestrator.errors import UserError, did_you_mean
from orchestrator.ids import stable_hash
from orchestrator.judges.backends import answer_prompts
from orchestrator.judges.cache import JudgeCache
from orchestrator.judges.spec import JudgeReport, JudgeSpec, judge_specs
from orchestrator.templates import render

TRUE = ("1", "true", "yes", "y")
FALSE = ("0", "false", "no", "n")


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    label: bool


def labelled_items(root: RootConfig) -> list[Item]:
    """The labelled set, every label read as a bool (or a one-line error naming the row)."""
    cfg = root.judge_eval
    where, records = read_records(cfg.labels)
    items = []
    for index, record in enumerate(records[: cfg.labels.limit]):
        require_columns(
            record,
            (cfg.labels.id_field, cfg.labels.text_field, cfg.label_field),
            f"labelled set {where}",
            "judge_eval.labels.id_field/text_field or judge_eval.label_field",
        )
        label = str(record[cfg.label_field]).strip().lower()
        if label not in TRUE + FALSE:
            raise UserError(
                f"labelled set {where} row {index}: label {record[cfg.label_field]!r} is not "
                "true/false, 1/0 or yes/no"
            )
        key = str(record[cfg.labels.id_field]) if cfg.labels.id_field else f"{index:05d}"
        items.append(Item(key, str(record[cfg.labels.text_field]), label in TRUE))
    if not items:
        raise UserError(f"labelled set {where} has no rows")
    return items


def as_reasoning(text: str) -> Parsed:
    """A labelled text as the judge sees a reply: its scratchpad when it has tags, else the
    whole text is the reasoning."""
    parsed = parse(text, "stop")
    if parsed.scratchpad:
        return parsed
    return parse(f"<SCRATCHPAD_REASONING>{text}</SCRATCHPAD_REASONING><OUTPUT>-</OUTPUT>", "stop")


def judge_eval_mode(ctx: RunContext) -> JudgeReport:
    root, store = ctx.root, ctx.store
    specs = {s.name: s for s in judge_specs(root, ctx.overrides)}
    name = root.judge_eval.judge
    if name not in specs:
        raise UserError(
            f"judge_eval.judge={name!r} is not one of this sweep's judges"
            f"{did_you_mean(name, specs)}: pick one of {', '.join(specs) or 'none (judges=af)'}"
        )
    spec, items = specs[name], labelled_items(root)
    store.check_writable()
    cache = JudgeCache(store.root / "judge_cache", store.quarantine)
    keys = {item.id: _key(spec, item) for item in items}
    report = JudgeReport(prompts=len(items))
    pending = {key: prompt for key, prompt in keys.values() if key not in cache}
    report.cached = len(items) - len(pending)
    answer_prompts(ctx, [spec], {name: pending}, cache, report)
    table = pa.Table.from_pylist(
        [
            _row(spec, item, cache.get(keys[item.id][0]) if keys[item.id][0] in cache else None)
            for item in items
        ],
        schema=ITEM_SCHEMA,
    )
    store.write_table(store.root / "judge_eval", f"{name}.parquet", table)
    summary, sweep = judge_metrics(table)
    print(format_table(printed(summary)))
    print("calibration: how often the labels say yes, by the judge's vote share")
    print(format_table(calibration(table)))
    print("thresholds:")
    print(format_table(sweep))
    print(f"items: {store.root / 'judge_eval' / f'{name}.parquet'}")
    return report


def _key(spec: JudgeSpec, item: Item) -> tuple[str, str]:
    variables = spec.judge.variables("", as_reasoning(item.text))
    if variables is None:
        raise UserError(f"judge {spec.name} reads nothing from labelled item {item.id!r}")
    prompt = render(spec.template, variables, f"judges.{spec.name}.template")
    return stable_hash([spec.identity, prompt], 24), prompt


def _row(spec: JudgeSpec, item: Item, answers: list[str] | None) -> dict[str, Any]:
    columns = aggregate(spec.judge, answers) if answers is not None else {}
    share = next(iter(spec.judge.columns.values()))
    invalid = spec.judge.invalid_column
    return {
        "judge": spec.name,
        "id": item.id,
        "label": item.label,
        "vote_share": columns.get(share),
        "votes": columns.get(spec.judge.count_column),
        "invalid_votes": columns.get(invalid) if invalid else None,
        "threshold": spec.cfg.threshold,
    }
