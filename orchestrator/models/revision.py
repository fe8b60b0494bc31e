"""A hub model's `revision` (a branch or tag, `main` by default) resolved to a commit at plan
time: the commit enters the cell id and is what vLLM, the tokenizer and training load, so a
branch that moves between two runs makes new cells instead of mixing two models' rows.

With `HF_HUB_OFFLINE=1` the commit comes from the local hub cache (`refs/<revision>`); a
commit sha given as the revision is used as it is.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from orchestrator.errors import UserError

COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _cached(repo: str, revision: str) -> str | None:
    from huggingface_hub import constants

    ref = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else ""
    return commit if COMMIT.match(commit) else None


@cache
def resolve_revision(repo: str, revision: str | None) -> str | None:
    """The commit `revision` names now; None (said once) when neither the hub nor the local
    cache can say, e.g. planning offline a model never downloaded here."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    wanted = revision or "main"
    if COMMIT.match(wanted):
        return wanted
    cached = _cached(repo, wanted)
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return cached or _unresolved(repo, wanted, "offline, and not in the local hub cache")
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(repo, revision=wanted, token=os.environ.get("HF_TOKEN"))
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise UserError(
            f"model {repo}: the hub has no revision {wanted!r} of it ({_first_line(e)}): "
            "check model.path and model.revision (and HF_TOKEN for a gated model)"
        ) from None
    except Exception as e:  # network or authentication: the cache may still know
        return cached or _unresolved(repo, wanted, _first_line(e))
    return str(info.sha) if info.sha else cached or _unresolved(repo, wanted, "no commit given")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def _unresolved(repo: str, revision: str, why: str) -> str | None:
    print(
        f"warning: model {repo}: revision {revision!r} not resolved to a commit ({why}): its "
        "cells are named by the revision, and a branch that moves will not make new ones",
        flush=True,
    )
    return None
