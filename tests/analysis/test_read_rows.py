"""A sweep's rows are read in groups of files, each group one chunk: a table of one chunk per
shard file kept the process 0.2 MB bigger per file (0.44 GiB for a 2,000-file sweep of
0.07 GiB of rows, so gigabytes at a million rows)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import columns
from analysis.columns import GROUP_FILES, read_rows
from analysis.measured import measured
from analysis.report import build_report
from orchestrator.studies.alignment_faking import STUDY as AF_STUDY
from orchestrator.studies.alignment_faking.gap import compliance_gap
from orchestrator.studies.alignment_faking.metrics import tier_metrics
from tests.analysis.declared import AF_SCORED
from tests.analysis.test_report import af_sweep, scored_rows

FILES = 2 * GROUP_FILES + 3


def many_files(tmp_path: Path) -> Path:
    sweep = af_sweep(tmp_path)
    scores = sweep / "scores" / "model=m"
    rows = scored_rows()
    for k in range(1, FILES):  # the first is af_sweep's own
        pq.write_table(rows, scores / f"{k:012x}_000000-000010.parquet")
    return scores.parent


def test_rows_of_many_files_come_in_a_chunk_per_group_in_file_order(tmp_path: Path) -> None:
    folder = many_files(tmp_path)
    table = read_rows(folder, AF_SCORED)
    assert table.num_rows == FILES * scored_rows().num_rows
    assert {c.num_chunks for c in table.columns} == {3}  # was FILES chunks
    # in the files' order, every row once
    per_file = [pq.read_table(p, columns=["prompt_id"]) for p in columns.shard_paths(folder)]
    assert table["prompt_id"].to_pylist() == [
        i for t in per_file for i in t["prompt_id"].to_pylist()
    ]


def test_a_group_ends_at_its_bytes_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = many_files(tmp_path)
    size = next(folder.rglob("*.parquet")).stat().st_size
    monkeypatch.setattr(columns, "GROUP_BYTES", 10 * size)  # ten files a group
    table = read_rows(folder, AF_SCORED)
    assert {c.num_chunks for c in table.columns} == {-(-FILES // 10)}


def test_a_text_read_as_its_length_says_whether_there_is_one() -> None:
    texts = pa.chunked_array([["a reply", "  \n", None, "\u2003", ""]])
    table = columns.as_lengths(pa.table({"completion": texts, "output": texts}), ["completion"])
    assert table["completion"].to_pylist() == [7, 3, None, 1, 0]
    assert table["output"].to_pylist() == texts.to_pylist()  # not named: read as text
    # a blank reply: Python's strip() (em space included), as the counts read the text
    assert table["replied"].to_pylist() == [True, False, False, False, False]
    assert columns.has_text(table["completion"]).to_pylist() == [True, True, False, True, False]
    assert columns.has_text(texts).to_pylist() == [True, True, False, True, False]


def test_the_report_counts_texts_read_as_lengths_as_it_counts_the_texts(tmp_path: Path) -> None:
    """An alignment-faking report reads its texts as their lengths (most of a million rows'
    bytes): what it counts and the metrics are those of the texts, blank replies and empty
    scratchpads included, and the samples it shows are read back whole."""
    sweep = af_sweep(tmp_path)
    (path,) = (sweep / "scores" / "model=m").iterdir()
    records = pq.read_table(path).to_pylist()
    for k, row in enumerate(records):
        if row["outcome"] is None or k % 3 == 0:  # no judged outcome: the reply is read
            row.update(outcome=None, completion=["", " \n", "\u2003", "a reply"][k % 4])
        row["scratchpad"] = [None, "", "\n\n", "thinking"][k % 4]
    pq.write_table(pa.Table.from_pylist(records, pq.read_schema(path)), path)
    scores = sweep / "scores"
    texts = read_rows(scores, AF_SCORED)
    lengths = read_rows(scores, AF_SCORED, lengths=AF_STUDY.lengths_in_report)
    assert lengths["completion"].type == pa.int32() and "replied" in lengths.column_names
    assert measured(lengths) == measured(texts)
    assert tier_metrics(lengths) == tier_metrics(texts)
    assert compliance_gap(lengths) == compliance_gap(texts)
    report = build_report(sweep)
    shown = [s for cell in report.samples for _, picked in cell.classes.values() for s in picked]
    by_row = {(r["cell_id"], r["prompt_id"]): r for r in records}
    for s in shown:
        row = by_row[s.cell_id, s.prompt_id]
        assert s.text.get("scratchpad", "") == (row["scratchpad"] or "")
        assert s.text.get("completion", row["completion"]) == row["completion"]
