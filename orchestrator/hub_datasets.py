"""Hugging Face datasets by name, without the `datasets` library: download the repo's data
files (Parquet, CSV or JSONL) with huggingface_hub and read the requested split.

`dataset.path` is the hub name (`walledai/AdvBench`) or a local folder with the same layout
(a copy made with `huggingface-cli download --repo-type dataset`), which is how the tests
and machines without hub access use this source.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.config.groups import DatasetConfig
from orchestrator.errors import UserError
from orchestrator.file_readers import READERS

PATTERNS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}


def _snapshot(cfg: DatasetConfig) -> Path:
    local = Path(cfg.path).expanduser()
    if local.is_dir():
        return local
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            cfg.path,
            repo_type="dataset",
            revision=cfg.revision,
            allow_patterns=[f"*{suffix}" for suffix in PATTERNS],
        )
    except Exception as e:  # offline, gated, or a wrong name: all need the same fix
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise UserError(
            f"cannot download Hugging Face dataset '{cfg.path}' ({first}): check dataset.path, "
            "HF_TOKEN and network access, or point dataset.path at a local copy"
        ) from None
    return Path(folder)


def split_files(root: Path, cfg: DatasetConfig) -> list[Path]:
    """The data files of one split (and subset folder), in name order."""
    base = root / cfg.subset if cfg.subset else root
    files = [
        p
        for p in sorted(base.rglob("*"))
        if p.suffix in PATTERNS and (p.name.startswith(cfg.split) or p.parent.name == cfg.split)
    ]
    if not files:
        raise UserError(
            f"dataset '{cfg.path}' has no data files for split '{cfg.split}'"
            f"{f' in subset {cfg.subset!r}' if cfg.subset else ''}: set dataset.split or "
            "dataset.subset"
        )
    return files


def read_hf(cfg: DatasetConfig) -> tuple[str, list[dict[str, object]]]:
    records: list[dict[str, object]] = []
    for file in split_files(_snapshot(cfg), cfg):
        records += READERS[PATTERNS[file.suffix]](file)
    return f"hf:{cfg.path}[{cfg.split}]", records
