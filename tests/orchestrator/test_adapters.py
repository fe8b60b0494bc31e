"""model.adapter: the rank vLLM is asked for, and an identity that follows the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UserError
from orchestrator.models.adapters import adapter_hash, adapter_rank, servable_rank


def test_ranks_round_up_to_what_vllm_serves() -> None:
    assert [servable_rank(r) for r in (0, 1, 4, 8, 9, 64, 300, 600)] == [
        0,
        1,
        8,
        8,
        16,
        64,
        320,
        600,
    ]


def test_the_adapter_identity_follows_its_files(tmp_path: Path) -> None:
    for name, r in (("a", 4), ("b", 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(f'{{"r": {r}}}')
        (tmp_path / name / "adapter_model.safetensors").write_bytes(b"weights")
    assert adapter_hash(str(tmp_path / "a")) == adapter_hash(str(tmp_path / "b"))
    (tmp_path / "b" / "adapter_model.safetensors").write_bytes(b"retrained")
    adapter_hash.cache_clear()
    assert adapter_hash(str(tmp_path / "a")) != adapter_hash(str(tmp_path / "b"))
    assert adapter_rank(str(tmp_path / "a")) == 4
    with pytest.raises(UserError, match="is not a LoRA adapter folder"):
        adapter_hash(str(tmp_path / "missing"))
