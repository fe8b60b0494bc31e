"""`python -m analysis runs/<sweep>`: print the per-cell summary of a sweep's results."""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.summary import cell_summary, format_table, read_results


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m analysis runs/<sweep>", file=sys.stderr)
        return 2
    results = Path(argv[0]) / "results"
    if not results.is_dir():
        print(f"error: no results folder at {results}: run the sweep first", file=sys.stderr)
        return 2
    print(format_table(cell_summary(read_results(results))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
