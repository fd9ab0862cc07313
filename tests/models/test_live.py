"""Live checks against real services, skipped unless their URLs are set.

`STAKES_LIVE_OPENAI_URL` (e.g. `http://127.0.0.1:11434/v1`) with `STAKES_LIVE_OPENAI_MODEL`, and
`STAKES_LIVE_ANTHROPIC_URL` (e.g. `https://api.anthropic.com`) with `STAKES_LIVE_ANTHROPIC_MODEL`;
keys come from `OPENAI_API_KEY` and `ANTHROPIC_API_KEY`.
"""

from __future__ import annotations

import os

import pytest

from stakes.models import AnthropicBackend, ChatRequest, OpenAICompatibleBackend

pytestmark = pytest.mark.live

REQUEST = ChatRequest.user("Reply with the single word: ok", max_tokens=16, temperature=0.0)


@pytest.mark.skipif(not os.environ.get("STAKES_LIVE_OPENAI_URL"),
                    reason="STAKES_LIVE_OPENAI_URL is not set")
async def test_openai_compatible_live() -> None:
    model = OpenAICompatibleBackend(os.environ["STAKES_LIVE_OPENAI_URL"],
                                    os.environ.get("STAKES_LIVE_OPENAI_MODEL", "gpt-4o-mini"),
                                    timeout_s=120, max_retries=2)
    response = await model.complete(REQUEST)
    await model.aclose()
    assert response.text.strip()
    assert response.input_tokens > 0
    assert response.output_tokens > 0


@pytest.mark.skipif(not os.environ.get("STAKES_LIVE_ANTHROPIC_URL"),
                    reason="STAKES_LIVE_ANTHROPIC_URL is not set")
async def test_anthropic_live() -> None:
    name = os.environ.get("STAKES_LIVE_ANTHROPIC_MODEL", "claude-3-5-haiku-latest")
    model = AnthropicBackend(name, base_url=os.environ["STAKES_LIVE_ANTHROPIC_URL"],
                             timeout_s=120, max_retries=2)
    response = await model.complete(REQUEST)
    await model.aclose()
    assert response.text.strip()
    assert response.input_tokens > 0
    assert response.output_tokens > 0
