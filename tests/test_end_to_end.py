"""End to end with real components: local Ray, vLLM (CPU build) on the tiny model, Parquet,
W&B offline, DuckDB. What a researcher's first run does, checked row by row."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pytest

from jobs.rows import CORE
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_cluster")]

CELLS, PROMPTS, SAMPLES = 4, 12, 2


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("e2e")
    report = run(sweep_args(root, f"sampling.n={SAMPLES}", "tracker=wandb"))
    return root, report


def test_rows_are_cells_times_prompts_times_samples(first_run: tuple[Path, object]) -> None:
    _, report = first_run
    table = ds.dataset(report.results, format="parquet", partitioning="hive").to_table()  # type: ignore[attr-defined]
    assert report.failures == []  # type: ignore[attr-defined]
    assert table.num_rows == CELLS * PROMPTS * SAMPLES
    keys = set(
        zip(
            table["cell_id"].to_pylist(),
            table["prompt_id"].to_pylist(),
            table["sample_idx"].to_pylist(),
            strict=True,
        )
    )
    assert len(keys) == table.num_rows, "no duplicate (cell_id, prompt_id, sample_idx)"
    assert len(set(table["cell_id"].to_pylist())) == CELLS


def test_rows_follow_the_declared_schema(first_run: tuple[Path, object]) -> None:
    _, report = first_run
    for path in report.results.rglob("*.parquet"):  # type: ignore[attr-defined]
        schema = ds.dataset(path, format="parquet").schema
        assert schema.names == CORE.names  # the prompted study adds no column of its own
        assert all(schema.field(n).type == CORE.field(n).type for n in CORE.names)
    table = ds.dataset(report.results, format="parquet", partitioning="hive").to_table()  # type: ignore[attr-defined]
    row = table.slice(0, 1).to_pylist()[0]
    assert row["model"] == "tiny" and row["stage"] == "generate" and row["study"] == "prompted"
    assert row["engine"].startswith("vllm ") and "(cpu, float32)" in row["engine"]
    assert row["rendered_prompt"].startswith("<|im_start|>system\n")
    assert row["prompt_tokens"] > 0 and 1 <= row["completion_tokens"] <= 16
    assert row["finish_reason"] in {"stop", "length"}
    assert json.loads(row["axes"]).keys() == {"prompt_variant", "seed"}
    assert row["finished_at"] >= row["started_at"]


def test_duckdb_reads_the_dataset(first_run: tuple[Path, object]) -> None:
    _, report = first_run
    glob = f"{report.results}/**/*.parquet"  # type: ignore[attr-defined]
    query = f"select count(*), count(distinct cell_id) from read_parquet('{glob}', hive_partitioning=true)"
    [(count, cells)] = duckdb.sql(query).fetchall()
    assert (count, cells) == (CELLS * PROMPTS * SAMPLES, CELLS)


def test_wandb_offline_run_holds_the_sample_table(first_run: tuple[Path, object]) -> None:
    root, _ = first_run
    runs = list((root / "tiny" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    tables = list(runs[0].glob("files/media/table/samples_*.table.json"))
    assert len(tables) == 1
    content = json.loads(tables[0].read_text())
    assert content["columns"][:3] == ["cell_id", "model", "prompt_variant"]
    assert len(content["data"]) == 20
    [cells] = runs[0].glob("files/media/table/cells_*.table.json")
    per_cell = json.loads(cells.read_text())
    assert "truncation_rate" in per_cell["columns"] and len(per_cell["data"]) == CELLS
    log = (runs[0] / f"run-{runs[0].name.rsplit('-', 1)[-1]}.wandb").read_bytes()
    assert b"cell/truncation_rate" in log and b"tokens_per_s" in log


def test_the_run_ends_with_its_report_mirrored_to_wandb(first_run: tuple[Path, object]) -> None:
    root, _ = first_run
    report = root / "tiny" / "report"
    rates = {r.split(",")[1] for r in (report / "by_axis.csv").read_text().splitlines()[1:]}
    assert rates == {"plain", "concise", "0", "1"}  # prompt_variant and seed, two values each
    assert "<details><summary>tiny plain seed=0" in (report / "report.html").read_text()
    (run_dir,) = (root / "tiny" / "wandb").glob("offline-run-*")
    images = {p.name.rsplit("_", 2)[0] for p in run_dir.rglob("media/images/report/*.png")}
    assert images == {"truncated_by_prompt_variant", "truncated_by_seed"}


def test_resolved_config_and_versions_are_saved(first_run: tuple[Path, object]) -> None:
    root, _ = first_run
    assert "name: tiny" in (root / "tiny" / "config.yaml").read_text()
    versions = json.loads((root / "tiny" / "versions.json").read_text())
    assert {"ray", "torch", "transformers", "pyarrow"} <= versions.keys()


def test_second_run_generates_nothing(
    first_run: tuple[Path, object], capsys: pytest.CaptureFixture[str]
) -> None:
    root, report = first_run
    before = {p: p.stat().st_mtime_ns for p in report.results.rglob("*.parquet")}  # type: ignore[attr-defined]
    again = run(sweep_args(root, f"sampling.n={SAMPLES}", "tracker=wandb"))
    assert again.shards_run == 0 and again.rows_written == 0
    assert "nothing to run: all 12 shards of 4 cells are done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in again.results.rglob("*.parquet")} == before
