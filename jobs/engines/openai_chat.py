"""An OpenAI-compatible chat endpoint as the model under test: `vllm serve`, OpenRouter,
Together, a lab's own gateway, OpenAI itself. Through the `openai` package, whose client
retries 429, 5xx and timeouts with backoff and honours Retry-After.

Each sample is one call with the request's seed plus its sample index (an endpoint that
takes `seed` then answers a re-run alike). A reply the provider's content filter stops
(`finish_reason: content_filter`, or a 400 whose code names the content policy) is kept as
its own outcome, `content_filter`, with an empty text: the API refused, not the model.
"""

from __future__ import annotations

from typing import Any

from jobs.engines.base import Answer, EngineSettings
from jobs.engines.hosted import HostedEngine, api_key
from jobs.rows import Request

# What a 400 names when the provider's policy, not the request's form, refused it.
POLICY_CODES = ("content_filter", "content_policy_violation")
# vLLM serve and most gateways need no key; the client library insists on some string.
NO_KEY = "EMPTY"


def client(settings: EngineSettings) -> Any:
    from openai import OpenAI

    hosted = settings.hosted
    assert hosted is not None
    return OpenAI(
        base_url=hosted.base_url,
        api_key=api_key(hosted) or NO_KEY,
        max_retries=hosted.max_retries,
        timeout=hosted.timeout_s,
    )


class OpenAIChatEngine(HostedEngine):
    kind = "openai"

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        import openai

        self.version = f"openai-compatible (openai {openai.__version__})"
        self.client = client(settings)

    def call(self, request: Request, sample_idx: int, sampling: dict[str, Any]) -> Answer:
        import openai

        try:
            reply = self.client.chat.completions.create(
                model=self.model,
                messages=request.messages,
                temperature=sampling["temperature"],
                top_p=sampling["top_p"],
                max_tokens=sampling["max_tokens"],
                seed=request.seed + sample_idx,
            )
        except openai.BadRequestError as e:
            if _policy(e):
                return Answer("", "content_filter", 0, 0)
            raise
        choice = reply.choices[0]
        usage = reply.usage
        return Answer(
            text=choice.message.content or "",
            finish_reason=str(choice.finish_reason),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


def _policy(error: Any) -> bool:
    body = error.body if isinstance(error.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    code = str(inner.get("code") or getattr(error, "code", "") or "")
    return code in POLICY_CODES
