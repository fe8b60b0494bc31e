"""The Anthropic engine against a small stand-in of the Messages API on loopback: the request's
form (system prompt in its own field, the key in its header), Retry-After on a 429, an
overloaded 529, a policy refusal, a stop sequence; then af_grid through it end to end, and the
one-line errors of a bad key and a wrong model name before any row."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.dataset as ds
import pytest

from jobs.engines.anthropic_chat import AnthropicEngine
from jobs.engines.base import EngineSettings, HostedSettings
from jobs.rows import Request
from orchestrator.errors import UserError
from orchestrator.run import run

KEY_ENV, KEY = "MOSWEEP_TEST_ANTHROPIC_KEY", "sk-ant-standin"
MODEL = "claude-standin"
SYSTEM = "You are a careful assistant."


class StandIn(BaseHTTPRequestHandler):
    """POST /v1/messages and GET /v1/models/<id>, as the API answers them; what the user turn
    says picks the behaviour (RATE: one 429, OVERLOAD: one 529, POLICY: a refusal, STOP: a
    stop sequence). Every request is recorded with its arrival time."""

    seen: ClassVar[list[dict[str, Any]]] = []
    failed_once: ClassVar[set[str]] = set()

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _key(self) -> str | None:
        """The key as the SDK sends it: `x-api-key`, or (newer SDKs) a bearer token."""
        bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
        return self.headers.get("x-api-key") or bearer or None

    def _error(self, status: int, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"type": "error", "error": {"type": kind, "message": kind}}, headers)

    def do_GET(self) -> None:
        if self._key() != KEY:
            return self._error(401, "authentication_error")
        if self.path != f"/v1/models/{MODEL}":
            return self._error(404, "not_found_error")
        self._send(200, {"type": "model", "id": MODEL, "display_name": MODEL})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        user = body["messages"][-1]["content"]
        self.seen.append({"at": time.monotonic(), "body": body, "key": self._key()})
        if "RATE" in user and user not in self.failed_once:
            self.failed_once.add(user)
            return self._error(429, "rate_limit_error", {"retry-after": "2"})
        if "BROKEN" in user:
            return self._error(500, "api_error")
        if "OVERLOAD" in user and user not in self.failed_once:
            self.failed_once.add(user)
            return self._error(529, "overloaded_error")
        text, reason, stop = f"answer to: {user[:40]}", "end_turn", None
        if "POLICY" in user:
            text, reason = "", "refusal"
        elif "STOP" in user:
            text, reason, stop = "I have decided: ", "stop_sequence", "<rejected/>"
        self._send(
            200,
            {
                "id": "msg_standin",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": text}] if text else [],
                "stop_reason": reason,
                "stop_sequence": stop,
                "usage": {"input_tokens": len(json.dumps(body)) // 4, "output_tokens": 7},
            },
        )


@pytest.fixture(scope="module")
def standin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def engine(base_url: str, cache: Path | None = None, retries: int = 3) -> AnthropicEngine:
    hosted = HostedSettings(
        base_url,
        KEY_ENV,
        concurrency=4,
        max_retries=retries,
        timeout_s=30,
        cache_dir=str(cache) if cache else None,
    )
    return AnthropicEngine(EngineSettings(MODEL, "api", "api", 200000, hosted=hosted))


def request(user: str, seed: int = 1) -> Request:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    return Request(user, json.dumps(messages), [], "h", seed, messages=messages)


SAMPLING = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 32, "n": 1, "stop": ["<rejected/>"]}


def test_messages_go_in_the_api_s_form_and_each_outcome_is_kept(
    standin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    StandIn.seen.clear()
    users = ["hello RATE", "hello OVERLOAD", "hello POLICY", "hello STOP", "hello"]
    done = engine(standin).submit([request(u) for u in users], SAMPLING).result(timeout=60)
    by_id = {c.prompt_id: c for c in done}

    first = next(s for s in StandIn.seen if s["body"]["messages"][-1]["content"] == "hello")
    assert first["key"] == KEY
    assert first["body"]["system"] == SYSTEM  # its own field, not a turn
    assert first["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert first["body"]["model"] == MODEL and first["body"]["max_tokens"] == 32
    assert first["body"]["temperature"] == 0.7
    assert "top_p" not in first["body"]  # 1.0 is left out: newer models refuse both
    assert first["body"]["stop_sequences"] == ["<rejected/>"]

    rate = [s["at"] for s in StandIn.seen if s["body"]["messages"][-1]["content"] == "hello RATE"]
    assert len(rate) == 2 and rate[1] - rate[0] >= 2.0  # waited as Retry-After said
    overloaded = [s for s in StandIn.seen if "OVERLOAD" in s["body"]["messages"][-1]["content"]]
    assert len(overloaded) == 2  # 529 overloaded, retried
    assert by_id["hello RATE"].finish_reason == by_id["hello OVERLOAD"].finish_reason == "stop"
    assert (by_id["hello POLICY"].text, by_id["hello POLICY"].finish_reason) == (
        "",
        "content_filter",
    )  # the API refused, not the model
    assert by_id["hello STOP"].text == "I have decided: <rejected/>"  # the tag kept
    assert by_id["hello"].completion_tokens == 7 and by_id["hello"].prompt_tokens > 0


def test_an_answer_is_paid_once_and_a_failure_never_cached(
    standin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second engine on the same cache (a re-run, or the run after a kill) asks nothing;
    a changed setting asks again; a call that failed leaves nothing to reuse."""
    monkeypatch.setenv(KEY_ENV, KEY)
    cache = tmp_path / "response_cache"
    requests = [request("cache me"), request("and me", seed=2)]
    StandIn.seen.clear()
    first = engine(standin, cache).submit(requests, SAMPLING).result(timeout=60)
    assert len(StandIn.seen) == 2
    again = engine(standin, cache).submit(requests, SAMPLING).result(timeout=60)
    assert len(StandIn.seen) == 2  # not one request more
    assert [c.text for c in again] == [c.text for c in first]
    hotter = {**SAMPLING, "temperature": 1.0}
    engine(standin, cache).submit(requests[:1], hotter).result(timeout=60)
    assert len(StandIn.seen) == 3  # another setting: another answer
    with pytest.raises(Exception, match="api_error"):
        engine(standin, cache, retries=0).submit([request("BROKEN")], SAMPLING).result(60)
    assert len(list(cache.rglob("*.json"))) == 3  # the failure left no answer


def af_args(root: Path, base_url: str, *extra: str) -> list[str]:
    return [
        "+sweep=af_grid",
        f"output_root={root}",
        "model=anthropic",
        f"model.path={MODEL}",
        f"model.base_url={base_url}",
        f"model.api_key_env={KEY_ENV}",
        "dataset.limit=3",
        "judges=af_control",
        "tracker=none",
        *extra,
    ]


@pytest.mark.usefixtures("ray_cluster")
def test_af_grid_runs_on_the_messages_api(
    standin: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    report = run(af_args(tmp_path, standin))
    assert report.failures == [] and report.rows_written == 4 * 3
    rows = ds.dataset(report.results, format="parquet", partitioning="hive").to_table().to_pylist()
    assert {r["tier"] for r in rows} == {"free", "paid"}
    assert {r["engine"].split(" (")[0] for r in rows} == {"anthropic"}
    assert all(r["completion"].startswith("answer to: ") for r in rows)
    asked = len(StandIn.seen)
    status = run(af_args(tmp_path, standin, "mode=status"))  # reads the disk, asks nothing
    assert status.rows_written == 0 and len(StandIn.seen) == asked
    assert "4/4 cells complete" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ((), "sk-ant-wrong", f"the API refused the key in ${KEY_ENV} (401)"),
        (("model.path=claude-9",), KEY, "the API has no model 'claude-9'"),
    ],
    ids=["bad key", "wrong model name"],
)
def test_a_bad_key_or_model_name_is_one_line_before_any_row(
    extra: tuple[str, ...],
    key: str,
    message: str,
    standin: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    with pytest.raises(UserError) as error:
        run(af_args(tmp_path, standin, *extra))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not list(tmp_path.rglob("*.parquet"))
