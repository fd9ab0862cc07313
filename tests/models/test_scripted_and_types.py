"""The fake backend, the request/response types and the package's public names."""

from __future__ import annotations

from typing import Any

import pytest

import stakes.models as models
from stakes.models import (
    ChatRequest,
    ChatResponse,
    Message,
    ModelBackend,
    ModelError,
    Prices,
    ScriptedBackend,
)


def test_all_matches_public_names() -> None:
    public = {n for n in vars(models) if not n.startswith("_")}
    submodules = {n for n in public if type(getattr(models, n)).__name__ == "module"}
    assert set(models.__all__) == public - submodules - {"annotations"}


async def test_scripted_replies_in_order_and_counts_usage() -> None:
    fake = ScriptedBackend(["one two", "three"], prices=Prices(1e6, 2e6))
    assert isinstance(fake, ModelBackend)
    first = await fake.complete(ChatRequest.user("a b c", system="sys"))
    second = await fake.complete(ChatRequest.user("d"))
    assert (first.text, first.input_tokens, first.output_tokens) == ("one two", 4, 2)
    assert first.cost == pytest.approx(4 * 1.0 + 2 * 2.0)
    assert second.text == "three"
    assert fake.calls == 2
    assert (fake.input_tokens, fake.output_tokens) == (5, 3)
    assert fake.cost == pytest.approx(first.cost + second.cost)
    assert [r.messages[0]["content"] for r in fake.requests] == ["a b c", "d"]
    with pytest.raises(ModelError) as info:
        await fake.complete(ChatRequest.user("more"))
    assert info.value.code == "model.script"
    await fake.aclose()
    assert fake.closed


async def test_scripted_callable_responses_and_errors() -> None:
    canned = ChatResponse(text="x", input_tokens=7, output_tokens=1, model="m", latency_s=0.1,
                          cost=0.5)
    fake = ScriptedBackend(lambda req: canned if req.system else ModelError("down",
                                                                            code="model.http"))
    assert (await fake.complete(ChatRequest.user("q", system="s"))) == canned
    with pytest.raises(ModelError, match="down"):
        await fake.complete(ChatRequest.user("q"))
    assert fake.calls == 2
    assert fake.input_tokens == 7


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": -1.0}, "temperature"),
])
def test_bad_requests(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ModelError) as info:
        ChatRequest(**kwargs)
    assert info.value.code == "model.request"
    assert info.value.context["field"] == field


def test_request_is_frozen_and_copies_its_inputs() -> None:
    messages: list[Message] = [{"role": "user", "content": "hi"}]
    request = ChatRequest(messages=messages, stop=["a"], metadata={"k": 1})
    messages.append({"role": "user", "content": "later"})
    assert len(request.messages) == 1
    assert request.stop == ("a",)
    with pytest.raises(TypeError):
        request.metadata["k"] = 2  # type: ignore[index]


def test_prices() -> None:
    assert Prices(3.0, 15.0).cost(1_000_000, 100_000) == pytest.approx(4.5)
    with pytest.raises(ModelError) as info:
        Prices(-1.0, 0.0)
    assert info.value.code == "model.config"
