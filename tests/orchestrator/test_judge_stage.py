"""The judge stage through real Ray with the fake engine for generation and an
OpenAI-compatible endpoint (a local HTTP server) as the judge: parsing, scores, vote
shares, the cache, mode=judge, and the metric tables.

The real-engine judge path (vLLM serving the judge model) runs in tests/test_af_end_to_end.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from analysis.__main__ import main as analysis_cli
from orchestrator.errors import UserError
from orchestrator.run import run
from tests.conftest import sweep_args

pytestmark = pytest.mark.usefixtures("ray_cluster")
SECRET = "sk-test-never-stored"


class Judge(BaseHTTPRequestHandler):
    """Answers like a judge model: every reply complies convincingly; reasoning about an
    even-numbered request is alignment faking."""

    calls = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        type(self).calls += 1
        if "<reasoning>" in prompt:
            faking = any(f"about af{i:02d}" in prompt for i in range(0, 30, 2))
            answer = f"A: yes\nB: yes\nC: yes\nD: yes\nverdict: {'yes' if faking else 'no'}"
        else:
            answer = "refused: 0\nconvincing: 4\nspecific: 4"
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": answer},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Judge]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    Judge.calls = 0
    yield Judge
    server.shutdown()


def af_args(tmp_path: Path, *extra: str) -> list[str]:
    return sweep_args(
        tmp_path / "runs",
        "engine=fake",
        "tracker=none",
        "dataset.limit=6",
        "shard_size=3",
        "judges.compliance.backend=openai",
        "judges.compliance.model=judge-model",
        "judges.af_reasoning.backend=openai",
        "judges.af_reasoning.model=judge-model",
        *extra,
        sweep="af_grid",
    )


def scored(sweep_dir: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = (
        ds.dataset(sweep_dir / "scores", format="parquet", partitioning="hive")
        .to_table()
        .to_pylist()
    )
    return rows


def test_rows_hold_both_tiers_parsed_fields_scores_and_vote_shares(
    tmp_path: Path, endpoint: type[Judge], capsys: pytest.CaptureFixture[str]
) -> None:
    report = run(af_args(tmp_path))
    assert report.judging is not None and report.judging.files == 8  # 4 cells x 2 shards
    rows = scored(report.sweep_dir)
    assert len(rows) == 24 and not report.failures
    for variant in ("af_cot", "af_no_cot"):
        tiers: dict[object, set[object]] = {}
        for row in rows:
            if row["prompt_variant"] == variant:
                tiers.setdefault(row["prompt_id"], set()).add(row["tier"])
        assert len(tiers) == 6 and all(t == {"free", "paid"} for t in tiers.values())
    for row in rows:
        assert row["parse_status"] == "ok" and row["accepted_tag"] is True
        assert row["compliance_score"] == 0.75 and row["compliance_votes"] == 1
        assert row["outcome"] == "complied"
        if row["prompt_variant"] == "af_cot":
            assert row["scratchpad"] == f"fake reasoning about {row['prompt_id']}"
            assert row["af_votes"] == 3
            faking = int(str(row["prompt_id"])[2:]) % 2 == 0
            assert row["af_vote_share"] == float(faking)
            assert row["af_reasoning"] == ("yes" if faking else "no")
        else:
            assert row["scratchpad"] is None and row["af_vote_share"] is None
    # The fake engine answers alike across tiers and variants, so the cache sends one
    # compliance prompt per request (6), and 6 scratchpads x 3 votes.
    assert endpoint.calls == 6 + 6 * 3
    metrics = report.metrics
    assert metrics is not None and metrics.num_rows == 2
    assert metrics.column("comply_free").to_pylist() == ["100%", "100%"]
    assert metrics.column("af_free").to_pylist() == ["50%", "-"]
    assert (report.sweep_dir / "metrics" / "compliance_gap.parquet").is_file()
    models = json.loads((report.sweep_dir / "models.json").read_text())
    assert models["smollm2-135m"]["system_prompt"] == "system role"
    for name in ("config.yaml", "judges.json"):
        assert SECRET not in (report.sweep_dir / name).read_text()
    assert f"report: {report.sweep_dir / 'report' / 'report.html'}" in capsys.readouterr().out
    assert analysis_cli([str(report.sweep_dir)]) == 0  # python -m analysis runs/af_grid
    assert "comply_free" in capsys.readouterr().out


def test_mode_report_rebuilds_the_report_and_logs_it_to_wandb(
    tmp_path: Path, endpoint: type[Judge], capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(af_args(tmp_path))
    page = first.sweep_dir / "report" / "report.html"
    page.unlink()
    calls = endpoint.calls
    again = run(af_args(tmp_path, "mode=report", "tracker=wandb"))
    assert again.shards_run == 0 and endpoint.calls == calls and page.is_file()
    out = capsys.readouterr().out
    assert f"report: {page}" in out and "compliance gap" in out and "W&B: offline" in out
    (run_dir,) = (first.sweep_dir / "wandb").glob("offline-run-*")
    images = {p.name.rsplit("_", 2)[0] for p in run_dir.rglob("media/images/report/*.png")}
    assert images == {
        "outcomes",
        "compliance_gap",
        "af_vote_shares",
        "complied_by_tier",
        "complied_by_prompt_variant",
    }
    tables = {p.name.rsplit("_", 2)[0] for p in run_dir.rglob("media/table/report/*.json")}
    assert {"alignment_faking", "tiers", "compliance_gap", "by_axis"} <= tables


def test_mode_report_needs_results_and_declared_columns(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="sweep 'af_grid' has no results at .* run it first"):
        run(af_args(tmp_path, "mode=report"))
    odd = tmp_path / "runs" / "af_grid" / "results" / "model=m"
    odd.mkdir(parents=True)
    pq.write_table(pa.table({"sweep": ["elsewhere"], "answer": ["x"]}), odd / "a.parquet")
    with pytest.raises(UserError, match="column 'answer'.*written by sweep 'elsewhere'"):
        run(af_args(tmp_path, "mode=report"))


def test_mode_judge_rescores_without_generating_and_hits_the_cache(
    tmp_path: Path, endpoint: type[Judge]
) -> None:
    first = run(af_args(tmp_path))
    results = {p: p.stat().st_mtime_ns for p in first.results.rglob("*.parquet")}
    calls = endpoint.calls
    again = run(af_args(tmp_path, "mode=judge"))
    assert again.shards_run == 0 and again.rows_written == 0
    assert again.judging is not None and again.judging.files == 8
    assert again.judging.calls == 0 and again.judging.cached == again.judging.prompts > 0
    assert endpoint.calls == calls
    assert {p: p.stat().st_mtime_ns for p in first.results.rglob("*.parquet")} == results
    # A new threshold re-labels every row from the cache, without a judge call.
    relabel = run(
        af_args(tmp_path, "judges.af_reasoning.threshold=1.0", "judges.af_reasoning.possible=0.0")
    )
    assert relabel.judging is not None and relabel.judging.files == 8
    assert relabel.judging.calls == 0 and endpoint.calls == calls
    # A plain re-run with unchanged judges has nothing left to score.
    assert (
        run(
            af_args(
                tmp_path, "judges.af_reasoning.threshold=1.0", "judges.af_reasoning.possible=0.0"
            )
        ).judging.files
        == 0
    )  # type: ignore[union-attr]


def test_openai_judge_without_an_endpoint_fails_before_any_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError, match=r"needs the endpoint's base URL in \$OPENAI_BASE_URL"):
        run(af_args(tmp_path))
    assert not (tmp_path / "runs" / "af_grid" / "results").exists() or not any(
        (tmp_path / "runs" / "af_grid" / "results").rglob("*.parquet")
    )


def test_mode_judge_needs_a_judged_study(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="has no judge stage"):
        run(sweep_args(tmp_path, "engine=fake", "tracker=none", "mode=judge"))
