"""A hub model's revision is resolved to a commit at plan time: the commit enters the cell
ids (a branch that moves makes new cells) and is what vLLM and the tokenizer load. Run
offline here: the commit comes from a local hub cache, as on a cluster with HF_HUB_OFFLINE."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import RevisionNotFoundError

from jobs.engines.vllm_engine import llm_kwargs
from orchestrator import models
from orchestrator.errors import UserError
from orchestrator.models.revision import resolve_revision
from orchestrator.run import load_sweep
from orchestrator.workers import engine_settings

REPO = "some-lab/some-model"
ARGS = ["+sweep=tiny", "model.source=hub", f"model.path={REPO}", "model.name=hub-model"]


def cached_ref(cache: Path, ref: str, commit: str) -> None:
    refs = cache / f"models--{REPO.replace('/', '--')}" / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / ref).write_text(commit)
    resolve_revision.cache_clear()  # a new invocation


def test_a_hub_revision_becomes_a_commit_in_cell_ids_and_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    cached_ref(tmp_path, "main", "a" * 40)
    _, root, cells = load_sweep(ARGS)
    assert models.commit(root.model) == "a" * 40
    settings = engine_settings(root, "cpu", REPO)
    assert settings.revision == "a" * 40 and llm_kwargs(settings)["revision"] == "a" * 40
    # main moves to another commit: the same command plans new cells, never mixing the two.
    cached_ref(tmp_path, "main", "b" * 40)
    _, _, moved = load_sweep(ARGS)
    assert {c.id for c in moved}.isdisjoint(c.id for c in cells)
    # A commit given as the revision is used as it is.
    _, pinned, _ = load_sweep([*ARGS, f"model.revision={'c' * 40}"])
    assert models.commit(pinned.model) == "c" * 40
    # Offline and never downloaded here (planning a GPU sweep on a laptop): a warning, and
    # the cells are named by the revision.
    _, unknown, _ = load_sweep([*ARGS, "model.revision=v2"])
    assert models.commit(unknown.model) is None
    assert "revision 'v2' not resolved to a commit" in capsys.readouterr().out


def test_a_revision_the_hub_does_not_have_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def missing(*args: object, **kwargs: object) -> None:
        error = RevisionNotFoundError.__new__(RevisionNotFoundError)
        error.args = ("Revision Not Found for url: .../revision/v9",)
        raise error

    monkeypatch.setattr(HfApi, "model_info", missing)
    resolve_revision.cache_clear()
    with pytest.raises(UserError, match="the hub has no revision 'v9' of it"):
        load_sweep([*ARGS, "model.revision=v9"])
    resolve_revision.cache_clear()
