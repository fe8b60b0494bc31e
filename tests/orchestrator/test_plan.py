"""Shards cover exactly the prompts with no row on disk, at fixed boundaries."""

from __future__ import annotations

from orchestrator.plan import pending_shards
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
