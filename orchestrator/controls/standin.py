"""A scripted OpenAI-compatible chat endpoint on loopback, for controls whose model under test
and judges answer from a plan instead of from weights.

The sweep reaches it exactly as it reaches `vllm serve` or a provider: the hosted engine
(jobs/engines/openai_chat.py) for the model under test, the endpoint judge backend for the
judges, over HTTP. Only what answers is scripted: `answer(model, user turn, seed)` returns
the reply text and its finish reason, or None for an HTTP 500 (a failed call).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (served model, last user turn, seed) -> (text, finish reason), or None: answer HTTP 500
Answerer = Callable[[str, str, int], tuple[str, str] | None]


def _handler(models: list[str], answer: Answerer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # a control prints its own table
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                return self._send(404, {"error": {"message": "not found"}})
            listing = [{"id": m, "object": "model", "owned_by": "control"} for m in models]
            self._send(200, {"object": "list", "data": listing})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            user = body["messages"][-1]["content"]
            got = answer(body["model"], user, int(body.get("seed") or 0))
            if got is None:
                return self._send(500, {"error": {"message": "planted failure"}})
            text, reason = got
            self._send(
                200,
                {
                    "id": "chatcmpl-control",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": len(user) // 4,
                        "completion_tokens": len(text) // 4,
                        "total_tokens": (len(user) + len(text)) // 4,
                    },
                },
            )

    return Handler


@contextmanager
def serving(models: list[str], answer: Answerer) -> Iterator[str]:
    """Serve `models` on a free loopback port while the block runs; yields the base URL
    (up to /v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(models, answer))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
