"""Shards cover exactly the prompts with no row on disk, at fixed boundaries."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

from orchestrator.plan import Shard, pending_shards, prefix_order, prepare_jobs
from orchestrator.run import load_sweep
from tests.orchestrator.test_grid import cells_for


def spans(shards: list) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    return [(s.start, s.end) for s in shards]


def test_fresh_cell_is_cut_at_shard_size() -> None:
    cell = cells_for()[0]
    assert spans(pending_shards([cell], {}, 5)) == [(0, 5), (5, 10), (10, 12)]


def test_done_ranges_are_skipped_and_gaps_filled() -> None:
    cell = cells_for()[0]
    done = {cell.id: [(0, 5), (7, 9)]}
    assert spans(pending_shards([cell], done, 5)) == [(5, 7), (9, 10), (10, 12)]


def test_changed_shard_size_never_redoes_finished_prompts() -> None:
    cell = cells_for()[0]
    done = {cell.id: [(0, 6)]}  # written with shard_size=6
    shards = pending_shards([cell], done, 4)
    assert spans(shards) == [(6, 8), (8, 12)]
    assert sum(s.size for s in shards) == 6


def test_finished_cell_has_no_shards() -> None:
    cell = cells_for()[0]
    assert pending_shards([cell], {cell.id: [(0, 12)]}, 4) == []


def test_prefix_order_keeps_each_system_prompt_together_whatever_the_axis_order() -> None:
    # The variant axis moved after seed: in grid order, shards alternate system prompts.
    axes = ["~grid.prompt_variant", "+grid.prompt_variant=[plain,concise]", "grid.seed=[0,1,2]"]
    _, root, cells = load_sweep(["+sweep=tiny", *axes, "shard_size=6"])
    shards = pending_shards(cells, {}, 6)
    prepared = prepare_jobs(root, shards)

    def switches(order: list[Shard]) -> int:
        variants = [s.cell.config.prompt_variant.name for s in order]
        return sum(a != b for a, b in itertools.pairwise(variants))

    assert switches(shards) == 5 and len(shards) == 3 * 2 * 2
    assert switches(prepared.shards) == 1  # one block per system prompt
    assert sorted(map(id, prepared.shards)) == sorted(map(id, shards))
    # the seeds of a variant (the same prompts) take turns shard by shard
    assert [s.start for s in prepared.shards[:6]] == [0, 0, 0, 6, 6, 6]
    assert prefix_order(shards, prepared) == prepared.shards


def test_cells_of_one_model_name_with_other_weights_are_each_served_their_own(
    tmp_path: Path,
) -> None:
    # A grid over model.path keeps model.name: the jobs were once keyed by name, so every
    # cell was served the first cell's weights (found by the known-answer controls).
    from orchestrator import models

    _, root, cells = load_sweep(["+sweep=tiny"])
    built = Path(models.prepare_model(root.model))
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        shutil.copytree(built, folder)
    _, root, cells = load_sweep(
        ["+sweep=tiny", "model.source=local", f"+grid.model.path=[{folders[0]},{folders[1]}]"]
    )
    prepared = prepare_jobs(root, pending_shards(cells, {}, 4))
    served = {
        json.loads(job.task.labels["axes"])["model.path"]: job.task.labels["model_path"]
        for job in prepared.jobs()
    }
    assert served == {str(f): str(f.resolve()) for f in folders}
