"""Silent corruption: random bytes of random finished files of a small sweep (its result
shards, its manifest and its state files) are flipped, and the next run either makes the
damaged work again or stops with one line; it never reports a wrong row count. (Before the
manifest, a shard flipped mid-file with its footer intact counted as done forever, and 110
of 1,221 single-bit flips in one shard read back as other values with no error.) The fake
engine serves: what is tested is the store."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from orchestrator.errors import UserError
from orchestrator.report import sweep_rows
from orchestrator.run import load_sweep, run
from tests.conftest import sweep_args
from tests.orchestrator.test_judge_stage import Judge, af_args, endpoint  # noqa: F401

ROWS = 4 * 12  # tiny: 4 cells x 12 prompts
TRIALS = 16


def fake(root: Path, *extra: str) -> list[str]:
    return sweep_args(root, "engine=fake", "tracker=none", *extra)


def flip(path: Path, rng: random.Random) -> None:
    """Change 1 to 3 bytes of a file in place (each to another value)."""
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data))
        data[at] ^= rng.randint(1, 255)
    path.write_bytes(bytes(data))


def finished_files(sweep: Path) -> list[Path]:
    """The files a run left that a later run reads (not the report it rebuilds)."""
    return sorted(
        p.relative_to(sweep)
        for p in sweep.rglob("*")
        if p.is_file()
        and p.suffix in (".parquet", ".json", ".jsonl", ".yaml")
        and "report" not in p.parts
    )


def test_flipped_bytes_are_made_again_or_one_line_never_a_wrong_count(
    tmp_path: Path, ray_cluster: None
) -> None:
    first = run(fake(tmp_path / "base"))
    assert not first.failures
    sweep = first.sweep_dir
    finished = finished_files(sweep)
    assert any(p.name == "manifest.jsonl" for p in finished)
    rng = random.Random(0)
    outcomes = []
    for trial in range(TRIALS):
        root = tmp_path / f"trial{trial}"
        shutil.copytree(tmp_path / "base", root, symlinks=True)
        target = root / "tiny" / rng.choice(finished)
        # shards most often: they hold the rows
        if rng.random() < 0.5:
            target = rng.choice(sorted((root / "tiny" / "results").rglob("*.parquet")))
        flip(target, rng)
        try:
            again = run(fake(root))
        except UserError as e:
            assert "\n" not in str(e), str(e)
            outcomes.append("one line")
            continue
        assert not again.failures
        rows = sweep_rows(again.results, load_sweep(fake(root))[2], ["prompt_id"])
        keys = pc.binary_join_element_wise(rows["cell_id"], rows["prompt_id"], "|")
        assert rows.num_rows == len(pc.unique(keys)) == ROWS, (target, rows.num_rows)
        outcomes.append("made again" if again.shards_run else "unchanged")
    # A flipped shard is never "unchanged": every trial that hit one made it again.
    assert "made again" in outcomes, outcomes


@pytest.mark.parametrize("where", ["start", "middle", "footer"])
def test_a_shard_flipped_anywhere_is_set_aside_and_made_again(
    tmp_path: Path, ray_cluster: None, where: str
) -> None:
    first = run(fake(tmp_path))
    shard = sorted(first.results.rglob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    at = {"start": 8, "middle": len(data) // 2, "footer": len(data) - 12}[where]
    data[at] ^= 0x01  # one bit
    shard.write_bytes(bytes(data))
    again = run(fake(tmp_path))
    assert again.shards_run == 1 and not again.failures
    quarantined = list((first.sweep_dir / "quarantine").rglob("*.parquet.*"))
    assert [q.name.split(".parquet.")[0] for q in quarantined] == [shard.stem]
    rows = sweep_rows(again.results, load_sweep(fake(tmp_path))[2], ["prompt_id"])
    assert rows.num_rows == ROWS


def test_flips_in_a_judged_sweep_are_scored_again_or_one_line_never_a_wrong_count(
    tmp_path: Path,
    ray_cluster: None,
    endpoint: type[Judge],  # noqa: F811
) -> None:
    """The same over a judged sweep (alignment faking, a judge endpoint on loopback): its
    scores files and judge-cache parts too."""
    first = run(af_args(tmp_path / "base"))
    sweep = first.sweep_dir
    cells = load_sweep(af_args(tmp_path / "base"))[2]
    expected = sweep_rows(sweep / "scores", cells, ["prompt_id"]).num_rows
    damageable = [
        p for p in finished_files(sweep) if p.parts[0] in ("results", "scores", "judge_cache")
    ]
    assert {p.parts[0] for p in damageable} == {"results", "scores", "judge_cache"}
    rng = random.Random(1)
    for trial in range(8):
        root = tmp_path / f"trial{trial}"
        shutil.copytree(tmp_path / "base", root, symlinks=True)
        flip(root / "runs" / "af_grid" / rng.choice(damageable), rng)
        try:
            again = run(af_args(root))
        except UserError as e:
            assert "\n" not in str(e), str(e)
            continue
        assert not again.failures
        rows = sweep_rows(again.sweep_dir / "scores", cells, ["prompt_id", "tier"])
        keys = pc.binary_join_element_wise(rows["cell_id"], rows["prompt_id"], "|")
        assert rows.num_rows == len(pc.unique(keys)) == expected
