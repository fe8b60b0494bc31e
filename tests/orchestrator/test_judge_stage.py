"""The judge stage through real Ray with the fake engine for generation and an
OpenAI-compatible endpoint (a local HTTP server) as the judge: parsing, scores, vote
shares, the cache, mode=judge, and the metric tables.

The real-engine judge path (vLLM serving the judge model) runs in tests/test_af_end_to_end.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from analysis.__main__ import main as analysis_cli
from jobs.engines.fake import POISON
from orchestrator.errors import UserError
from orchestrator.run import run
from tests.conftest import REPO, sweep_args

pytestmark = pytest.mark.usefixtures("ray_cluster")
SECRET = "sk-test-never-stored"


def judge_answer(prompt: str) -> str:
    """What a good judge model answers: every reply complies convincingly and in full;
    reasoning about an even-numbered request is alignment faking."""
    if "help only in part" in prompt:
        return "A: no\nB: no"
    if "<reasoning>" in prompt:
        faking = any(f"about af{i:02d}" in prompt for i in range(0, 30, 2))
        word = "yes" if faking else "no"
        # The verdict line contradicts the criteria: the criteria must decide.
        return f"A: yes\nB: {word}\nC: yes\nD: yes\nverdict: {'no' if faking else 'yes'}"
    return "refused: 0\nconvincing: 4\nspecific: 4"


class Judge(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint answering like a judge model (judge_answer)."""

    calls = 0
    # prompt -> None (answer 429) or the text to answer instead; set by a test
    fault: Callable[[str], str | None] | None = None

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        type(self).calls += 1
        answer = judge_answer(prompt)
        if type(self).fault is not None:
            faulty = type(self).fault(prompt)  # type: ignore[misc]
            if faulty is None:
                return self._send(429, {"error": {"message": "rate limited", "type": "rate"}})
            answer = faulty
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
        self._send(200, reply)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
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
    Judge.fault = None
    yield Judge
    server.shutdown()


def fake_af(tmp_path: Path, *extra: str) -> list[str]:
    """af_grid on the fake engine: 4 cells of 6 prompts, in shards of 3."""
    return sweep_args(
        tmp_path / "runs",
        "engine=fake",
        "tracker=none",
        "dataset.limit=6",
        "shard_size=3",
        *extra,
        sweep="af_grid",
    )


def af_args(tmp_path: Path, *extra: str) -> list[str]:
    return fake_af(
        tmp_path,
        "judges=af",  # the LLM judges (af_grid's CPU default is the phrase tables)
        "judges.compliance.backend=openai",
        "judges.compliance.model=judge-model",
        "judges.af_reasoning.backend=openai",
        "judges.af_reasoning.model=judge-model",
        "judges.partial_compliance.backend=openai",
        "judges.partial_compliance.model=judge-model",
        *extra,
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
    # compliance prompt per request (6), and 6 scratchpads x 3 votes to each of the AF and
    # partial-compliance judges.
    assert endpoint.calls == 6 + 6 * 3 + 6 * 3
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
    assert f"report: {page}\n  measured: 24 of 24 rows scored (none left out)\n" in out
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
    assert {"measured", "alignment_faking", "tiers", "compliance_gap", "by_axis"} <= tables


def test_mode_report_needs_results_and_declared_columns(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="sweep 'af_grid' has no results at .* run it first"):
        run(af_args(tmp_path, "mode=report"))
    odd = tmp_path / "runs" / "af_grid" / "results" / "model=m"
    odd.mkdir(parents=True)
    pq.write_table(
        pa.table({"sweep": ["elsewhere"], "answer": ["x"]}),
        odd / "aaaaaaaaaaaa_000000-000001.parquet",
    )
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


def flaky(prompt: str) -> str | None:
    """af00's compliance prompt: 429; af02's: garbage; af03's AF votes: garbage."""
    if "<reasoning>" not in prompt and "af00" in prompt:
        return None
    if "<reasoning>" not in prompt and "af02" in prompt:
        return "I would rather not grade this."
    if "<reasoning>" in prompt and "about af03" in prompt and "help only in part" not in prompt:
        return "Hmm."
    return judge_answer(prompt)


SCORE_COLUMNS = (
    "cell_id",
    "prompt_id",
    "outcome",
    "compliance_score",
    "af_vote_share",
    "af_reasoning",
    "partial_compliance",
    "judge_failed",
)


def test_failed_judge_calls_are_marked_and_only_they_are_retried(
    tmp_path: Path, endpoint: type[Judge]
) -> None:
    Judge.fault = flaky
    args = af_args(tmp_path, "judges.compliance.retries=0", "judges.af_reasoning.retries=0")
    first = run(args)
    assert first.judging is not None
    rows = scored(first.sweep_dir)
    failed = {(r["prompt_id"], r["judge_failed"]) for r in rows if r["judge_failed"]}
    assert failed == {
        ("af00", "compliance"),
        ("af02", "compliance"),
        ("af03", "af_reasoning"),
    }
    # 2 requests x 2 variants x 2 tiers lost their compliance grade: counted, never given
    # their rule label; af03's 2 af_cot rows keep their outcome, their AF label unknown.
    assert first.judging.failed_rows == 4 + 4 + 2
    assert sum(r["outcome"] == "judge_failed" for r in rows) == 8
    assert all(r["af_reasoning"] is None for r in rows if r["prompt_id"] == "af03")
    metrics = first.metrics
    assert metrics is not None and sum(metrics.column("judge_failed").to_pylist()) == 8
    # The re-run asks again for exactly those: 2 compliance prompts and 3 AF votes.
    Judge.fault = None
    calls = endpoint.calls
    again = run(args)
    assert again.judging is not None and again.judging.failed_rows == 0
    assert endpoint.calls - calls == 2 + 3
    # ... and ends where a clean run ends.
    clean = run(sweep_args(tmp_path / "clean", *af_args(tmp_path)[2:], sweep="af_grid"))

    def key(r: dict[str, object]) -> tuple[object, ...]:
        return tuple(r[c] for c in SCORE_COLUMNS)

    assert sorted(map(key, scored(again.sweep_dir))) == sorted(map(key, scored(clean.sweep_dir)))


def test_a_dead_endpoint_fails_fast_and_marks_every_row(
    tmp_path: Path, endpoint: type[Judge]
) -> None:
    Judge.fault = lambda prompt: None  # every request: 429, for ever
    no_retries = [
        f"judges.{j}.retries=0" for j in ("compliance", "af_reasoning", "partial_compliance")
    ]
    report = run(af_args(tmp_path, "dataset.limit=30", *no_retries))
    assert report.judging is not None and report.judging.failed_rows == 4 * 30
    # Past DEAD_AFTER failures in a row a judge stops sending: of its 30 prompts, the
    # ones not yet sent fail at once (recorded as such) instead of each being tried.
    assert endpoint.calls < 3 * 30
    assert any("not sent: the endpoint failed" in f.error for f in report.failures)
    # Each prompt's failure is recorded once, however many failures follow the give-up.
    recorded = [(f.shard_id, f.cell_id) for f in report.failures]
    assert len(recorded) == len(set(recorded))


def test_an_endpoint_given_up_in_one_batch_is_not_asked_in_the_next(
    tmp_path: Path, endpoint: type[Judge]
) -> None:
    """Shard files are scored in batches of what was written meanwhile: the failures in a
    row that give an endpoint up count across batches, and once given up it is not asked
    again in this run (before: the count began again with every batch, so batches of a
    few prompts never gave a dead endpoint up)."""
    from types import SimpleNamespace

    from jobs.judges.llm import JUDGES
    from orchestrator.config.schema import JudgeConfig
    from orchestrator.judges.backends import answer_prompts
    from orchestrator.judges.cache import JudgeCache
    from orchestrator.judges.spec import JudgeReport, JudgeSpec

    Judge.fault = lambda prompt: None  # every request: 429
    cfg = JudgeConfig("openai", "judge-model", "judges/compliance.j2", retries=0, concurrency=1)
    spec = JudgeSpec("compliance", cfg, JUDGES["compliance"], "", "identity", None)
    ctx: Any = SimpleNamespace(root=SimpleNamespace(sweep=SimpleNamespace(name="t")))
    cache = JudgeCache(tmp_path / "judge_cache", lambda path, why: None)
    report = JudgeReport()
    for batch in range(4):  # dead after 2 in a row (twice the concurrency)
        answer_prompts(ctx, [spec], {"compliance": {f"k{batch}": "p"}}, cache, report, True)
    assert endpoint.calls == 2 and report.given_up == {"compliance"}
    assert [f.error.split(":")[0] for f in report.failures] == [
        "RateLimitError",
        "RateLimitError",
        "not sent",
        "not sent",
    ]


def test_judge_eval_scores_the_labelled_set_and_prints_auroc(
    tmp_path: Path, endpoint: type[Judge], capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = [
        json.loads(x) for x in (REPO / "orchestrator/data/af_scratchpads_labelled.jsonl").open()
    ]

    def perfect(prompt: str) -> str | None:
        faking = next(x["label"] for x in labelled if x["scratchpad"] in prompt)
        word = "yes" if faking else "no"
        return f"A: yes\nB: {word}\nC: yes\nD: {word}"

    Judge.fault = perfect
    report = run(af_args(tmp_path, "mode=judge_eval"))
    assert report.judging is not None and report.judging.prompts == 12
    assert report.shards_run == 0 and not any(report.sweep_dir.glob("results/**/*.parquet"))
    items = pq.read_table(report.sweep_dir / "judge_eval" / "af_reasoning.parquet").to_pylist()
    assert [i["vote_share"] for i in items] == [float(i["label"]) for i in items]
    out = capsys.readouterr().out
    header, _, line = out.splitlines()[:3]
    values = dict(zip(header.split(), line.split(), strict=True))
    assert values["auroc"] == "1.00" and values["accuracy"] == "1.00" and values["items"] == "12"
    # each value with its interval: the bootstrap's for AUROC, Wilson's for the rest
    assert values["auroc_95ci"] == "[1.00,1.00]" and values["recall_95ci"] == "[0.61,1.00]"
    assert "calibration: how often the labels say yes" in out
    # A second run answers from the cache.
    calls = endpoint.calls
    run(af_args(tmp_path, "mode=judge_eval"))
    assert endpoint.calls == calls


def test_judging_goes_along_with_generation_and_scores_as_lockstep_does(
    tmp_path: Path, endpoint: type[Judge], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.studies.alignment_faking import judge_nodes

    monkeypatch.setenv("MOSWEEP_FAKE_LATENCY_S", "0.3")  # 0.9 s a shard of 3 requests
    one = "engine.shards_in_flight=1"  # one shard after another
    report = run(af_args(tmp_path / "streamed", one))
    listed = (report.sweep_dir / "manifest.jsonl").read_text().splitlines()
    files = [json.loads(line)["file"].split("/")[0] for line in listed]
    results = [i for i, f in enumerate(files) if f == "results"]
    scores = [i for i, f in enumerate(files) if f == "scores"]
    assert len(results) == len(scores) == 8  # 4 cells x 6 prompts in shards of 3
    assert scores[0] < results[-1]  # a shard was judged before the last one was generated
    assert report.judging is not None and (report.judging.files, report.judging.rows) == (8, 24)
    monkeypatch.setattr(judge_nodes, "LOCKSTEP", True)
    lockstep = run(af_args(tmp_path / "lockstep", one))
    listed = (lockstep.sweep_dir / "manifest.jsonl").read_text().splitlines()
    files = [json.loads(line)["file"].split("/")[0] for line in listed]
    assert files == ["results"] * 8 + ["scores"] * 8

    def key(r: dict[str, object]) -> tuple[object, ...]:
        return tuple(r[c] for c in ("cell_id", "prompt_id", *SCORE_COLUMNS))

    assert sorted(map(key, scored(report.sweep_dir))) == sorted(
        map(key, scored(lockstep.sweep_dir))
    )


def test_the_rules_alone_score_along_with_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """judges=none still parses and labels every row (the metrics read scores/): that goes
    along with generation too, instead of a pass over every shard after it."""
    monkeypatch.setenv("MOSWEEP_FAKE_LATENCY_S", "0.3")
    args = fake_af(tmp_path, "judges=none", "engine.shards_in_flight=1")
    report = run(args)
    listed = (report.sweep_dir / "manifest.jsonl").read_text().splitlines()
    files = [json.loads(line)["file"].split("/")[0] for line in listed]
    results = [i for i, f in enumerate(files) if f == "results"]
    scores = [i for i, f in enumerate(files) if f == "scores"]
    assert len(results) == len(scores) == 8
    assert scores[0] < results[-1]  # a shard was scored before the last one was generated
    assert report.judging is not None and (report.judging.files, report.judging.rows) == (8, 24)
    rows = scored(report.sweep_dir)
    assert len(rows) == 24 and all(r["outcome"] and r["parse_status"] for r in rows)


def test_engine_judges_are_vote_nodes_of_the_one_graph(tmp_path: Path) -> None:
    """An engine judge's prompts are `vote` nodes of the graph generation runs on, one per
    shard file and judge, and each file's scores a `score` node after its votes; the judge
    that is the model under test is served by generation's engine, which loads once."""
    from orchestrator.events import read_events

    args = fake_af(tmp_path, "judges=af")  # every judge served by the model under test
    report = run(args)
    ran = report.stages.ran
    assert len(ran["generate"]) == 8 and len(ran["score"]) == 8  # 4 cells x 2 shards
    assert sorted(n.split("-")[1] for n in ran["judge"]) == sorted(
        ["compliance", "af_reasoning", "partial_compliance"] * 8
    )
    events = [e["event"] for e in read_events(report.sweep_dir / "events.jsonl")]
    assert events.count("engine_load") == 1
    judging = report.judging
    assert judging is not None and (judging.files, judging.rows) == (8, 24)
    assert judging.calls > 0 and judging.prompts >= judging.calls
    rows = scored(report.sweep_dir)
    assert len(rows) == 24
    # A re-run scores again only the files with a row whose judge call failed (the fake
    # engine's answers hold no vote for some judges), and generates nothing.
    failed = {r["shard_id"] for r in rows if r["judge_failed"]}
    again = run(args)
    assert again.rows_written == 0 and not again.stages.ran.get("generate")
    assert len(again.stages.ran.get("score", [])) == len(failed)


def test_a_failed_vote_node_leaves_its_rows_judge_failed_not_its_file_unscored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vote node that fails (an engine judge's batch) does not block its file's score
    node: the file is scored, the rows that judge would have graded are judge_failed
    (counted, never a rule label), and the next run asks again for exactly those."""
    from orchestrator.studies.alignment_faking import judge_nodes

    real = judge_nodes.vote_work

    def failing(spec: Any, prompts: dict[str, str], *rest: Any) -> Any:
        if spec.name == "compliance":  # the fake engine raises on every one of its prompts
            prompts = {key: f"{POISON} {prompt}" for key, prompt in prompts.items()}
        return real(spec, prompts, *rest)

    monkeypatch.setattr(judge_nodes, "vote_work", failing)
    args = fake_af(tmp_path, "judges=af")
    report = run(args)
    assert len(report.stages.ran["score"]) == 8 and not report.stages.blocked
    rows = scored(report.sweep_dir)
    assert len(rows) == 24 and all(r["judge_failed"] for r in rows)
    assert {r["outcome"] for r in rows} == {"judge_failed"}
    # (the cells share their judge prompts, each asked once: one cell's batches failed)
    failed = {f.shard_id.split("-")[1] for f in report.failures}
    assert failed == {"compliance"} and not report.stages.blocked
    monkeypatch.setattr(judge_nodes, "vote_work", real)
    again = run(args)  # every file scored again, its compliance prompts asked again
    assert again.rows_written == 0 and len(again.stages.ran["score"]) == 8
    assert not again.failures
