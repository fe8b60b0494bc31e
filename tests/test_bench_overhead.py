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
    done = subprocess.run(
        [sys.executable, "-m", "bench.overhead", "--sweep", "tiny", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    tokens = {
        m[1]: int(m[2])
        for m in re.finditer(r"^(raw LLM\.generate|orchestrator) +(\d+) ", done.stdout, re.M)
    }
    assert set(tokens) == {"raw LLM.generate", "orchestrator"}
    assert tokens["raw LLM.generate"] == tokens["orchestrator"] > 0
    result = json.loads(out.read_text())
    assert result["name"] == "orchestrator vs raw vLLM" and result["ratio"] > 0
