"""The sweep's report (analysis/report.py) from the orchestrator: built at the end of a run
that wrote or scored rows, and on demand with `mode=report`; its figures and tables are
mirrored to the W&B run (Parquet stays the truth, the report is rebuilt from it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator import memory
from orchestrator.errors import UserError
from orchestrator.tracker import Tracker

if TYPE_CHECKING:  # matplotlib loads only when a report is built
    from analysis.report import Report


def publish_report(sweep_dir: Path, tracker: Tracker) -> Report:
    """Build the report and log it; bad files in the folder, or a section that cannot be
    built, raise a UserError."""
    from analysis.columns import ReportError
    from analysis.report import SectionError, build_report

    try:
        report = build_report(sweep_dir)
    except (ReportError, SectionError) as e:
        raise UserError(str(e)) from None
    for name in report.figures:
        tracker.image(f"report/{name}", report.folder / f"{name}.png")
    if report.measured is not None:  # scored and left-out rows per cell, beside the rates
        tracker.table("report/measured", report.measured)
    for name, table in report.tables.items():
        tracker.table(f"report/{name}", table)
    tracker.results(f"{sweep_dir.name}-results", references(sweep_dir), report.folder)
    return report


def references(sweep_dir: Path) -> list[str]:
    """Where the sweep's rows are for good: its object store when it is on one (the local
    folder is a copy), else the folder."""
    from orchestrator.mirror import active

    mirror = active()
    base = mirror.uri if mirror is not None else sweep_dir.resolve().as_uri()
    return [f"{base}/{name}" for name in ("results", "scores") if (sweep_dir / name).is_dir()]


def report_after_run(sweep_dir: Path, tracker: Tracker) -> str | None:
    """At the end of a run: the results are saved whatever happens here, so a report that
    cannot be built does not undo the run; it is one line, and the run's exit status says
    it (never a silent success). Returns that line, or None when the report was built."""
    memory.give_back()  # what the run freed: the report's peak is not added to the run's
    try:
        report = publish_report(sweep_dir, tracker)
    except Exception as e:  # a bad file or a bug in a figure: one line, the results kept
        why = (str(e).splitlines() or [type(e).__name__])[0]
        line = (
            f"error: report not built: {why}; the results are saved; rebuild it with "
            f"python -m analysis {sweep_dir}"
        )
        print(line, file=sys.stderr)
        return line
    print(f"report: {report.html}")
    # What was scored and what was not, and every figure left out for want of data.
    for line in [*report.counts, *(f"no figure {k}: {v}" for k, v in report.missing.items())]:
        print(f"  {line}")
    return None
