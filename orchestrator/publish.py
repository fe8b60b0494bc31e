"""The sweep's report (analysis/report.py) from the orchestrator: built at the end of a run
that wrote or scored rows, and on demand with `mode=report`; its figures and tables are
mirrored to the W&B run (Parquet stays the truth, the report is rebuilt from it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import UserError
from orchestrator.tracker import Tracker

if TYPE_CHECKING:  # matplotlib loads only when a report is built
    from analysis.report import Report


def publish_report(sweep_dir: Path, tracker: Tracker) -> Report:
    """Build the report and log it; bad files in the folder raise a UserError."""
    from analysis.columns import ReportError
    from analysis.report import build_report

    try:
        report = build_report(sweep_dir)
    except ReportError as e:
        raise UserError(str(e)) from None
    for name in report.figures:
        tracker.image(f"report/{name}", report.folder / f"{name}.png")
    for name, table in report.tables.items():
        tracker.table(f"report/{name}", table)
    return report


def report_after_run(sweep_dir: Path, tracker: Tracker) -> None:
    """At the end of a run: the results are saved whatever happens here, so a report that
    cannot be built is a warning, not a failed sweep."""
    try:
        report = publish_report(sweep_dir, tracker)
    except Exception as e:  # a bad file or a bug in a figure: say so, keep the exit status
        print(f"report skipped: {e}".splitlines()[0], file=sys.stderr)
        print(f"  rebuild it with: python -m analysis {sweep_dir}", file=sys.stderr)
        return
    print(f"report: {report.html}")
