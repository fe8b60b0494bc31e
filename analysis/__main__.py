"""`python -m analysis runs/<sweep>`: write the sweep's report (runs/<sweep>/report/:
report.html, tables as Markdown and CSV, figures as PNG and SVG) and print where it is with
a short summary."""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.columns import ReportError
from analysis.report import SectionError, build_report, print_summary
from orchestrator.errors import UserError


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m analysis runs/<sweep>", file=sys.stderr)
        return 2
    sweep = Path(argv[0])
    results = sweep / "results"
    if not results.is_dir():
        print(f"error: no results folder at {results}: run the sweep first", file=sys.stderr)
        return 2
    try:
        report = build_report(sweep)
    except (ReportError, UserError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SectionError as e:  # the files were read; a section of the report could not be
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(print_summary(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
