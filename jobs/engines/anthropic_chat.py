"""Anthropic's Messages API as the model under test, through the `anthropic` package (its
client retries 429, 529 overloaded and other 5xx with backoff and honours Retry-After).

The system prompt goes in the request's `system` field, the turns in `messages`, as the API
wants. The API takes no seed: samples of one prompt differ by the model's own sampling. A
reply that ends at one of `sampling.stop` keeps that string in its text (the API leaves it
out and names it in `stop_sequence`), as the local engine does. `stop_reason: refusal` (the
API's policy classifier stopped the reply) is kept as its own outcome, `content_filter`.
"""

from __future__ import annotations

from typing import Any

from jobs.engines.base import Answer, EngineSettings
from jobs.engines.hosted import HostedEngine, api_key
from jobs.rows import Request

DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
# The API's stop reasons as the rows name them (vLLM's words: stop, length).
FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
}


def client(settings: EngineSettings) -> Any:
    import anthropic

    hosted = settings.hosted
    assert hosted is not None
    return anthropic.Anthropic(
        api_key=api_key(hosted, DEFAULT_KEY_ENV),
        base_url=hosted.base_url or None,
        max_retries=hosted.max_retries,
        timeout=hosted.timeout_s,
    )


def message_fields(messages: list[dict[str, str]]) -> dict[str, Any]:
    """`system` (the system turns, joined) and the other turns, as the Messages API takes
    them."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    turns = [
        {"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"
    ]
    return {"messages": turns, **({"system": system} if system else {})}


class AnthropicEngine(HostedEngine):
    kind = "anthropic"

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        import anthropic

        self.version = f"anthropic (anthropic {anthropic.__version__})"
        self.client = client(settings)

    def call(self, request: Request, sample_idx: int, sampling: dict[str, Any]) -> Answer:
        # The SDK's typed parameters no longer list temperature and top_p (newer models
        # fix them); the API still reads them from the body, where older models need them.
        body: dict[str, Any] = {"temperature": sampling["temperature"]}
        if sampling["top_p"] < 1.0:  # newer models refuse temperature and top_p together
            body["top_p"] = sampling["top_p"]
        extra: dict[str, Any] = {}
        if sampling.get("stop"):
            extra["stop_sequences"] = list(sampling["stop"])
        reply = self.client.messages.create(
            model=self.model,
            max_tokens=sampling["max_tokens"],
            **message_fields(request.messages),
            **extra,
            extra_body=body,
        )
        text = "".join(getattr(block, "text", "") for block in reply.content)
        if reply.stop_reason == "stop_sequence" and reply.stop_sequence:
            text += reply.stop_sequence  # kept in the text: the parser reads the tag
        return Answer(
            text=text,
            finish_reason=FINISH.get(str(reply.stop_reason), str(reply.stop_reason)),
            prompt_tokens=reply.usage.input_tokens,
            completion_tokens=reply.usage.output_tokens,
        )
