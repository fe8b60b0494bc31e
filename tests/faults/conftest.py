"""The fault suite: every test here is marked `faults`, which `make test` leaves out and
`make test-faults` runs (both are run by .ci/run). Real Ray and real vLLM on the tiny
model unless a test says why not."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.faults)
