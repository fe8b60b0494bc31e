"""Prompt sets through a registry of sources: built-in files, local JSONL/CSV/Parquet files,
and Hugging Face datasets (downloaded by name on machines that reach the hub)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.groups import DatasetConfig
from orchestrator.errors import UserError, did_you_mean
from orchestrator.file_readers import READERS
from orchestrator.ids import stable_hash

BUILTIN_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Prompt:
    """One dataset item: a stable id and the text that fills the user template."""

    id: str
    text: str


@dataclass(frozen=True)
class Dataset:
    name: str
    prompts: tuple[Prompt, ...]
    hash: str


def _read_files(cfg: DatasetConfig) -> tuple[str, list[dict[str, object]]]:
    path = resolve_path(cfg)
    return str(path), READERS["jsonl" if cfg.source == "builtin" else cfg.source](path)


def _read_hub(cfg: DatasetConfig) -> tuple[str, list[dict[str, object]]]:
    from orchestrator.hub_datasets import read_hf  # huggingface_hub loads only when used

    return read_hf(cfg)


# dataset.source -> what reads it: (where the rows came from, for messages; the rows)
SOURCES: dict[str, Callable[[DatasetConfig], tuple[str, list[dict[str, object]]]]] = {
    "builtin": _read_files,
    "hf": _read_hub,
    **dict.fromkeys(READERS, _read_files),
}


def resolve_path(cfg: DatasetConfig) -> Path:
    if cfg.source == "builtin":
        path = BUILTIN_DIR / cfg.path
        builtins = [p.name for p in BUILTIN_DIR.glob("*.jsonl")]
        if not path.is_file():
            raise UserError(
                f"no built-in dataset file '{cfg.path}'{did_you_mean(cfg.path, builtins)}"
            )
        return path
    path = Path(cfg.path).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"dataset file {path} does not exist: set dataset.path to a readable file")
    return path


def read_records(cfg: DatasetConfig) -> tuple[str, list[dict[str, object]]]:
    """Where the rows came from (for messages), and the rows."""
    if cfg.source not in SOURCES:
        raise UserError(
            f"dataset.source={cfg.source!r} is unknown{did_you_mean(cfg.source, SOURCES)}"
        )
    return SOURCES[cfg.source](cfg)


def require_columns(
    record: dict[str, object], columns: tuple[str | None, ...], where: str, setting: str
) -> None:
    """One line naming the first missing column, its nearest match and the setting to fix."""
    for column in columns:
        if column is not None and column not in record:
            raise UserError(
                f"{where} has no column '{column}'"
                f"{did_you_mean(column, record.keys())}: set {setting}"
            )


def prompt_text(value: object, path: str, index: int, key: str) -> str:
    """A row's text, or one line naming the row: a null or blank prompt would reach the
    model as the text "None" or as nothing, and a lone surrogate cannot be encoded."""
    where = f"dataset {path} row {index + 1} (id '{key}')"
    if value is None or not str(value).strip():
        raise UserError(
            f"{where} has {'a null' if value is None else 'an empty'} prompt: "
            "fill it in or remove the row"
        )
    if not isinstance(value, str):  # an object or a number would be sent as its repr
        raise UserError(
            f"{where} has a prompt that is a {type(value).__name__}, not text: write the "
            "prompt as a string (or point dataset.text_field at a text column)"
        )
    text = value
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(
            f"{where} holds a lone surrogate (text that is not valid Unicode): fix the row"
        ) from None
    return text


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Read, map columns, check ids, and hash the prompts a sweep will use."""
    path, records = read_records(cfg)
    records = records[: cfg.limit]
    if not records:
        raise UserError(f"dataset {path} has no rows: point dataset.path at a non-empty file")
    prompts = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        require_columns(
            record, (cfg.id_field, cfg.text_field), f"dataset {path}", "dataset.id_field/text_field"
        )
        # No id column (AdvBench has none): the row's position, stable for a fixed revision.
        key = f"{index:05d}" if cfg.id_field is None else str(record[cfg.id_field])
        if key in seen:
            raise UserError(f"dataset {path} repeats prompt id '{key}': ids must be unique")
        seen.add(key)
        prompts.append(Prompt(id=key, text=prompt_text(record[cfg.text_field], path, index, key)))
    content = [[p.id, p.text] for p in prompts]
    return Dataset(name=cfg.name, prompts=tuple(prompts), hash=stable_hash(content, 16))
