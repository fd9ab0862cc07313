"""A backend for the Anthropic Messages API (`POST /v1/messages`)."""

from __future__ import annotations

from typing import Any

from stakes.models._http import HttpBackend, HttpOptions, Secret, field
from stakes.models._types import ChatRequest, Prices

__all__ = ["ANTHROPIC_VERSION", "AnthropicBackend"]

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicBackend(HttpBackend):
    """Chat over the Anthropic Messages API.

    The key is read once from the environment variable `api_key_env` and sent as `x-api-key`,
    with `anthropic-version: 2023-06-01`. It never appears in `repr`, logs or error messages.

    Args:
        model: The model name, e.g. `claude-sonnet-4-5`.
        base_url: The API root (without `/v1`).
        api_key_env: The environment variable holding the key.
        prices: Dollars per million tokens, for `ChatResponse.cost`.
        timeout_s: Seconds for each attempt.
        max_retries: Retries after the first attempt on connection errors, timeouts, 429, 5xx.
        concurrency: Most requests in flight at once.
        options: Full HTTP options (backoff included); overrides the three values above.

    Raises:
        ModelError: `model.auth` when the key variable is not set.
    """

    provider = "anthropic"

    def __init__(self, model: str, *, base_url: str = "https://api.anthropic.com",
                 api_key_env: str = "ANTHROPIC_API_KEY", prices: Prices | None = None,
                 timeout_s: float = 60.0, max_retries: int = 3, concurrency: int = 8,
                 options: HttpOptions | None = None) -> None:
        opts = options or HttpOptions(timeout_s=timeout_s, max_retries=max_retries,
                                      concurrency=concurrency)
        super().__init__(base_url=base_url, model=model, api_key_env=api_key_env,
                         prices=prices or Prices(), options=opts, key_required=True)

    @property
    def url(self) -> str:
        """`{base_url}/v1/messages`."""
        return f"{self.base_url}/v1/messages"

    def headers(self, key: Secret) -> dict[str, str]:
        """`x-api-key`, `anthropic-version` and JSON content type."""
        return {"content-type": "application/json", "x-api-key": key.reveal(),
                "anthropic-version": ANTHROPIC_VERSION}

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The system prompt goes in the top-level `system` field."""
        body: dict[str, Any] = {
            "model": self.model, "max_tokens": request.max_tokens,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        }
        if request.system is not None:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        return body

    def parse(self, body: Any) -> tuple[str, int, int, str, str | None]:
        """Join the `text` content blocks; tokens from `usage.input_tokens/output_tokens`."""
        blocks = field(body, "content", list, self)
        parts: list[str] = []
        for i, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise self.malformed(f"field `content.{i}` has type `{type(block).__name__}`")
            if block.get("type") == "text":
                parts.append(field(body, f"content.{i}.text", str, self))
        input_tokens = field(body, "usage.input_tokens", int, self)
        output_tokens = field(body, "usage.output_tokens", int, self)
        model = body.get("model") if isinstance(body.get("model"), str) else self.model
        stop = body.get("stop_reason")
        return "".join(parts), input_tokens, output_tokens, model, \
            stop if isinstance(stop, str) else None
