"""Weights that change under the same name and path make new cells: a local model folder's
files enter its identity (hashed once per file and cached), so one cell never holds rows of
two different models."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator import models
from orchestrator.run import load_sweep


def cell_ids(folder: Path) -> list[str]:
    _, _, cells = load_sweep(["+sweep=tiny", "model.source=local", f"model.path={folder}"])
    return [c.id for c in cells]


def test_changed_local_weights_make_new_cells(tmp_path: Path) -> None:
    _, root, _ = load_sweep(["+sweep=tiny"])
    folder = tmp_path / "model"
    shutil.copytree(models.prepare_model(root.model), folder)
    before = cell_ids(folder)
    assert cell_ids(folder) == before  # nothing changed: the same cells (and resume)
    records = list((models.cache_dir() / "weights").glob("*.json"))
    assert records, "each file's hash is kept for the next plan"
    # Retrained in place: same name, same path, other weights.
    weights = next(folder.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    models.weights.weights_hash.cache_clear()  # a new invocation
    after = cell_ids(folder)
    assert set(after).isdisjoint(before)
    # A file the hub client keeps beside the weights (.cache/) changes nothing.
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("x")
    models.weights.weights_hash.cache_clear()
    assert cell_ids(folder) == after
