"""`python -m analysis runs/<sweep>`: print the per-cell summary of a sweep's results, and
for judged sweeps (alignment faking) the compliance-gap table from the scored rows."""

from __future__ import annotations

import sys
from pathlib import Path

from analysis.af_metrics import compliance_gap, headline, tier_metrics
from analysis.summary import cell_summary, format_table, read_results


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m analysis runs/<sweep>", file=sys.stderr)
        return 2
    sweep = Path(argv[0])
    results = sweep / "results"
    if not results.is_dir():
        print(f"error: no results folder at {results}: run the sweep first", file=sys.stderr)
        return 2
    print(format_table(cell_summary(read_results(results))))
    scores = sweep / "scores"
    if any(scores.glob("model=*/*.parquet")):
        scored = read_results(scores)
        print()
        print(format_table(headline(tier_metrics(scored), compliance_gap(scored))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
