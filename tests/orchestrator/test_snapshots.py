"""The composed config of every sweep, snapshotted: a changed default shows up in review.

After an intended change: UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/orchestrator/test_snapshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from orchestrator.config.compose import Composer
from tests.orchestrator.test_config import SWEEPS

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("sweep", SWEEPS)
def test_composed_config_matches_snapshot(sweep: str) -> None:
    composer = Composer()
    try:
        composed = OmegaConf.to_yaml(composer.compose([f"+sweep={sweep}"]))
    finally:
        composer.close()
    snapshot = SNAPSHOTS / f"{sweep}.yaml"
    if os.environ.get("UPDATE_SNAPSHOTS") or not snapshot.exists():
        snapshot.write_text(composed)
    assert composed == snapshot.read_text(), (
        f"conf/ changed {sweep}'s config: review, then UPDATE_SNAPSHOTS=1"
    )
