"""bench/overhead.py runs (it died with a KeyError once model paths were keyed by weights)
and gives its raw side exactly the orchestrator's work: the same requests, per-request
seeds and stop strings generate the same number of tokens both ways."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_the_overhead_benchmark_compares_the_same_work(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    command = ["bench.overhead", "--sweep", "tiny", "--pairs", "2", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    tokens = {
        (int(m[1]), m[2]): int(m[3])
        for m in re.finditer(r"^(\d) +(raw LLM\.generate|orchestrator) +(\d+) ", done.stdout, re.M)
    }
    assert len(tokens) == 4 and len(set(tokens.values())) == 1  # 2 pairs, the same work
    assert "median of 2: orchestrator / raw" in done.stdout
    # where the orchestrator's end-to-end time went, each part measured
    parts = re.search(
        r"before the engine pool starts ([\d.]+), .* generating ([\d.]+)", done.stdout
    )
    assert parts and float(parts[1]) > 0 and float(parts[2]) > 0
    result = json.loads(out.read_text())
    assert result["name"] == "orchestrator vs raw vLLM" and result["ratio"] > 0
