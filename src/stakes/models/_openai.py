"""A backend for any server that speaks the OpenAI chat completions wire format.

vLLM, Ollama, llama.cpp's server, LM Studio and hosted OpenAI-compatible APIs all accept
`POST {base_url}/chat/completions`; `base_url` usually ends in `/v1`.
"""

from __future__ import annotations

from typing import Any

from stakes.models._http import HttpBackend, HttpOptions, Secret, field
from stakes.models._types import ChatRequest, Prices

__all__ = ["OpenAICompatibleBackend"]


class OpenAICompatibleBackend(HttpBackend):
    """Chat completions over the OpenAI wire format.

    The key is read once from the environment variable `api_key_env` and sent as a bearer token;
    when the variable is unset (a local server needs none), no `Authorization` header is sent.
    It never appears in `repr`, logs or error messages.

    Args:
        base_url: The API root, e.g. `http://127.0.0.1:8000/v1` or `https://api.openai.com/v1`.
        model: The model name the server expects.
        api_key_env: The environment variable holding the key, or None for no key.
        prices: Dollars per million tokens, for `ChatResponse.cost`.
        timeout_s: Seconds for each attempt.
        max_retries: Retries after the first attempt on connection errors, timeouts, 429, 5xx.
        concurrency: Most requests in flight at once.
        options: Full HTTP options (backoff included); overrides the three values above.
    """

    provider = "openai"

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = "OPENAI_API_KEY",
                 prices: Prices | None = None, timeout_s: float = 60.0, max_retries: int = 3,
                 concurrency: int = 8, options: HttpOptions | None = None) -> None:
        opts = options or HttpOptions(timeout_s=timeout_s, max_retries=max_retries,
                                      concurrency=concurrency)
        super().__init__(base_url=base_url, model=model, api_key_env=api_key_env,
                         prices=prices or Prices(), options=opts, key_required=False)

    @property
    def url(self) -> str:
        """`{base_url}/chat/completions`."""
        return f"{self.base_url}/chat/completions"

    def headers(self, key: Secret) -> dict[str, str]:
        """JSON headers, plus `Authorization: Bearer` when a key is set."""
        headers = {"content-type": "application/json"}
        if key.reveal():
            headers["authorization"] = f"Bearer {key.reveal()}"
        return headers

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The system prompt becomes the first message, with role `system`."""
        messages: list[dict[str, str]] = []
        if request.system is not None:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m["role"], "content": m["content"]} for m in request.messages)
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": request.max_tokens}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    def parse(self, body: Any) -> tuple[str, int, int, str, str | None]:
        """Read `choices[0].message.content` and `usage.prompt_tokens/completion_tokens`.

        A null `content` (e.g. a refusal or a tool call) reads as empty text.
        """
        content = field(body, "choices.0.message.content", (str, type(None)), self)
        finish = field(body, "choices.0", dict, self).get("finish_reason")
        input_tokens = field(body, "usage.prompt_tokens", int, self)
        output_tokens = field(body, "usage.completion_tokens", int, self)
        model = body.get("model") if isinstance(body.get("model"), str) else self.model
        return (content or "", input_tokens, output_tokens, model,
                finish if isinstance(finish, str) else None)
