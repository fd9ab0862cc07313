"""Model backends behind one small interface: `ModelBackend.complete(ChatRequest) -> ChatResponse`.

- `OpenAICompatibleBackend`: any server speaking `POST {base_url}/chat/completions`
  (vLLM, Ollama, llama.cpp server, hosted APIs).
- `AnthropicBackend`: the Anthropic Messages API, `POST /v1/messages`.
- `ScriptedBackend`: a fake that answers from a script and records requests.

Every response carries its token usage and its cost in dollars (usage x `Prices`). HTTP backends
time out, retry with backoff and jitter on connection errors, timeouts, 429 and 5xx (honoring
`Retry-After`), limit concurrency, and read keys only from the environment, never showing them.
Every failure is a `ModelError` with a `model.*` code.
"""

from stakes.models._anthropic import ANTHROPIC_VERSION, AnthropicBackend
from stakes.models._errors import ModelError
from stakes.models._http import HttpOptions
from stakes.models._openai import OpenAICompatibleBackend
from stakes.models._scripted import Reply, ScriptedBackend
from stakes.models._types import ChatRequest, ChatResponse, Message, ModelBackend, Prices

__all__ = [
    "ANTHROPIC_VERSION",
    "AnthropicBackend",
    "ChatRequest",
    "ChatResponse",
    "HttpOptions",
    "Message",
    "ModelBackend",
    "ModelError",
    "OpenAICompatibleBackend",
    "Prices",
    "Reply",
    "ScriptedBackend",
]
