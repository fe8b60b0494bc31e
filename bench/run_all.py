"""`make bench`: every benchmark in its own process, one after the other, then one table,
printed and written to docs/benchmarks.md with the machine's description.

    .venv/bin/python -m bench.run_all            # about 15 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import machine

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
BENCHMARKS = [
    "overhead",
    "engine_reuse",
    "prefix_order",
    "prefix_tokens",
    "transport",
    "plan_scale",
    "driver_scale",
    "streaming",
    "parquet_write",
]


def run(name: str, folder: Path) -> dict[str, object]:
    out = folder / f"{name}.json"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out.is_file():
        raise SystemExit(f"bench.{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"bench.{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    result: dict[str, object] = json.loads(out.read_text())
    return result


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| benchmark | mosweep | compared with | ratio | target | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        target = f"{r['target']}: {'met' if r['met'] else '**missed**'}" if r["target"] else "-"
        lines.append(
            f"| {r['name']} | {r['ours']}: {r['ours_value']:,.2f} {r['unit']} | "
            f"{r['other']}: {r['other_value']:,.2f} {r['unit']} | {r['ratio']:.2f} | {target} | "
            f"{r['note']} |"
        )
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mosweep-bench-") as folder:
        results = [run(name, Path(folder)) for name in BENCHMARKS]
    body = table(results)
    print(body)
    DOC.parent.mkdir(exist_ok=True)
    # Sections after the table (one-off before/after comparisons) are kept as they are.
    old = DOC.read_text() if DOC.is_file() else ""
    kept = old[old.index("\n## ") :] if "\n## " in old else ""
    DOC.write_text(
        "# Benchmarks\n\n"
        f"`make bench` on {date.today().isoformat()}: {machine()}. Each row runs two ways of "
        "doing the same work one after the other on this machine; the ratio is in the "
        "direction where larger is better for mosweep. Scripts: `bench/<name>.py`.\n\n"
        + body
        + "\n"
        + kept
    )
    print(f"\nwrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
