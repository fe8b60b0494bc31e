"""The fact-recall probe: questions about the setting the documents describe, asked of every
model variant of the grid (the base model and each fine-tuned adapter), scored by rules.

A reply recalls a fact when one of the question's `answers` starts a word of it
(case-insensitive: "contractor" finds "Contractors", not "subcontractor"). Every question
counts in the denominator; a reply cut at the token limit still counts, and is reported in
`truncated`, so a shorter budget can only lower recall, never hide a miss.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from analysis.stats import wilson
from orchestrator.config.groups import DatasetConfig
from orchestrator.datasets import read_records, require_columns
from orchestrator.errors import UserError
from orchestrator.ids import stable_hash


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]
    fact: str  # the fact it asks about (a breakdown column); "" when the file has none


@dataclass(frozen=True)
class Probe:
    name: str
    questions: tuple[Question, ...]
    hash: str


def load_probe(cfg: DatasetConfig) -> Probe:
    return _load(json.dumps(asdict(cfg), sort_keys=True))


@cache
def _load(key: str) -> Probe:
    cfg = DatasetConfig(**json.loads(key))
    path, records = read_records(cfg)
    where = f"study.probe {path}"
    questions = []
    for record in records[: cfg.limit]:
        require_columns(record, (cfg.id_field, cfg.text_field, "answers"), where, "study.probe")
        answers = record["answers"]
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not answers or not all(answers):
            raise UserError(
                f"{where}: question {record[cfg.id_field or 'id']!r} needs `answers`, a "
                "non-empty list of strings (any one of them counts as recalled)"
            )
        questions.append(
            Question(
                id=str(record[cfg.id_field or "id"]),
                text=str(record[cfg.text_field]),
                answers=tuple(str(a) for a in answers),
                fact=str(record.get("fact", "")),
            )
        )
    if not questions:
        raise UserError(f"{where} has no questions: point study.probe.path at a non-empty file")
    content = [[q.id, q.text, list(q.answers)] for q in questions]
    return Probe(cfg.name, tuple(questions), stable_hash(content, 16))


def recalled(reply: str, answers: tuple[str, ...]) -> bool:
    """Does one of the answers start a word of the reply?"""
    return any(re.search(r"\b" + re.escape(a), reply, re.IGNORECASE) for a in answers)


def variant_recall(rows: list[dict[str, Any]], probe: Probe) -> dict[str, Any]:
    """One model variant's probe rows (model and adapter): questions, recalled, truncated,
    recall and its Wilson 95% interval over questions."""
    answers = {q.id: q.answers for q in probe.questions}
    hits = sum(recalled(r["completion"], answers[r["prompt_id"]]) for r in rows)
    low, high = wilson(hits, len(rows))
    return {
        "model": rows[0]["model"],
        "adapter": rows[0]["adapter"] or "none",
        "probe": probe.name,
        "questions": len(rows),
        "recalled": hits,
        "truncated": sum(r["finish_reason"] == "length" for r in rows),
        "recall": hits / len(rows),
        "ci_low": low,
        "ci_high": high,
    }


LEGEND = (
    "fact recall = probe questions whose reply names the fact (a listed answer at a word "
    "start) / all questions, per model variant (adapter: the fine-tune's node id); Wilson 95% "
    "interval over questions; truncated replies count in the denominator"
)
