"""Which W&B mode a run gets, and the ids that make a re-run continue its W&B run."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import wandb_ids
from orchestrator.config.groups import TrackerConfig
from orchestrator.tracker import run_mode


@pytest.fixture
def no_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def test_a_user_logged_in_with_wandb_login_is_online(no_login: Path) -> None:
    """`wandb login` writes ~/.netrc and no environment variable: online all the same (on the
    old code, offline without a word)."""
    assert run_mode(TrackerConfig()) == "offline"
    no_login.write_text("machine api.wandb.ai\n  login user\n  password 0123456789abcdef\n")
    assert run_mode(TrackerConfig()) == "online"
    assert run_mode(TrackerConfig(mode="offline")) == "offline"  # an explicit mode wins


def test_a_folder_keeps_one_id_per_invocation_kind(tmp_path: Path) -> None:
    first, step, known = wandb_ids.recall(tmp_path, "sweep")
    assert (step, known) == (0, False) and len(first) == 12
    wandb_ids.remember(tmp_path, "sweep", first, 7)
    wandb_ids.remember(tmp_path, wandb_ids.kind("report", "af_grid report"), "r1", 2)
    assert wandb_ids.recall(tmp_path, "sweep") == (first, 7, True)
    assert wandb_ids.recall(tmp_path, "report/af_grid report") == ("r1", 2, True)
    (tmp_path / wandb_ids.FILE).write_text("{torn")
    assert wandb_ids.recall(tmp_path, "sweep")[2] is False  # a new run, never a crash
