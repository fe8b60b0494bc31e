"""Cell ids change with what changes outputs, and only with that."""

from __future__ import annotations

import re

import pytest

from orchestrator.config.compose import Composer
from orchestrator.errors import UserError
from orchestrator.grid import Cell, expand


def cells_for(*overrides: str, sweep: str = "smoke") -> list[Cell]:
    composer = Composer()
    try:
        args = [f"+sweep={sweep}", *overrides]
        cfg, _ = composer.load(args)
        return expand(composer, args, cfg)
    finally:
        composer.close()


def ids(*overrides: str) -> list[str]:
    return [c.id for c in cells_for(*overrides)]


def test_ids_are_deterministic_and_distinct() -> None:
    first, second = ids(), ids()
    assert first == second
    assert len(set(first)) == len(first) == 8
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in first)


@pytest.mark.parametrize(
    "override",
    [
        "engine.replicas=4",
        "shard_size=2",
        "engine.max_num_seqs=8",
        "engine.shards_in_flight=9",
        "max_retries=5",
        "output_root=/elsewhere",
        "tracker=none",
        "ray.address=auto",
    ],
)
def test_transport_settings_keep_ids(override: str) -> None:
    assert ids(override) == ids()


@pytest.mark.parametrize(
    "override",
    [
        "sampling.temperature=0",
        "sampling.max_tokens=7",
        "sampling.n=2",
        "sampling.stop=[answer]",
        "model=tiny",
        "prompt_variant.system=Be terse.",
        "dataset.limit=3",
        "engine=fake",
    ],
)
def test_output_settings_make_new_ids(override: str) -> None:
    assert set(ids(override)).isdisjoint(ids())


def test_no_stop_strings_keep_the_ids_of_before_sampling_stop() -> None:
    """sampling.stop came later: without stop strings a cell keeps the id it had before
    (the smoke sweep's first cell, as of commit 89fe858), so a sweep's finished shards are
    still found."""
    assert ids()[0] == "625a335daf94"


def test_group_axis_and_nested_command_line_axis() -> None:
    cells = cells_for(
        "+grid.model=[tiny,smollm2-135m]", "+grid.sampling.temperature=[0.0,1.0]", sweep="tiny"
    )
    # 2 variants x 2 seeds (from the sweep file) x 2 models x 2 temperatures
    assert len(cells) == 16
    assert {c.config.model.name for c in cells} == {"tiny", "smollm2-135m"}
    assert {c.config.sampling.temperature for c in cells} == {0.0, 1.0}
    assert {"model", "sampling.temperature", "prompt_variant", "seed"} == set(cells[0].axes)


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (
            "seed=1",
            "seed=1 is replaced by the grid's seed axis (grid.seed=[0,1]) in every cell: "
            "set grid.seed=[1] instead",
        ),
        (
            "prompt_variant=plain",
            "prompt_variant=plain is replaced by the grid's prompt_variant axis",
        ),
    ],
)
def test_a_command_line_key_the_grid_sweeps_is_refused(override: str, says: str) -> None:
    # the axis's values would replace it in every cell: a seed given this way did nothing
    with pytest.raises(UserError, match=re.escape(says)):
        cells_for(override, sweep="tiny")
    assert {c.axes["seed"] for c in cells_for("grid.seed=[1]", sweep="tiny")} == {1}
