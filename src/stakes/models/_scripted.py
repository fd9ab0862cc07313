"""`ScriptedBackend`: a fake model that answers from a script and records what it was asked."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from stakes.models._errors import ModelError
from stakes.models._types import ChatRequest, ChatResponse, Prices

__all__ = ["Reply", "ScriptedBackend"]

Reply = str | ChatResponse | BaseException
"""A scripted answer: text, a full response, or an exception to raise."""


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


class ScriptedBackend:
    """A `ModelBackend` fake: replies come from a list (in order) or a callable.

    Text replies are counted in whitespace-separated words as tokens (input: the system prompt
    plus every message). A `ChatResponse` reply is returned as is; an exception is raised.
    Running out of listed replies raises (a fake never invents an answer).

    Args:
        replies: The answers in order, or a function from request to answer.
        model: The model name put on responses.
        prices: Dollars per million tokens, for `ChatResponse.cost`.

    Attributes:
        requests: Every request received, in order.
        calls: How many requests were answered or raised.
        input_tokens: Input tokens over all answered requests.
        output_tokens: Output tokens over all answered requests.
        cost: Dollars over all answered requests.
        closed: Whether `aclose` was called.
    """

    def __init__(self, replies: Iterable[Reply] | Callable[[ChatRequest], Reply], *,
                 model: str = "scripted", prices: Prices | None = None) -> None:
        self._script: Callable[[ChatRequest], Reply] | list[Reply]
        self._script = replies if callable(replies) else list(replies)
        self.model = model
        self.prices = prices or Prices()
        self.requests: list[ChatRequest] = []
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.closed = False

    def __repr__(self) -> str:
        return f"ScriptedBackend(model={self.model!r}, calls={self.calls})"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """The next scripted answer to `request`.

        Raises:
            ModelError: `model.script` when the listed replies are used up.
        """
        self.requests.append(request)
        self.calls += 1
        if callable(self._script):
            reply = self._script(request)
        else:
            index = self.calls - 1
            if index >= len(self._script):
                raise ModelError(f"scripted backend has no reply for call {self.calls} "
                                 f"(script has {len(self._script)})", code="model.script")
            reply = self._script[index]
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            input_tokens = _words(request.system) + sum(_words(m["content"])
                                                        for m in request.messages)
            output_tokens = _words(reply)
            reply = ChatResponse(text=reply, input_tokens=input_tokens,
                                 output_tokens=output_tokens, model=self.model, latency_s=0.0,
                                 cost=self.prices.cost(input_tokens, output_tokens),
                                 finish_reason="stop")
        elif not isinstance(reply, ChatResponse):
            raise ModelError(f"scripted reply has type `{type(reply).__name__}`",
                             code="model.script")
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens
        self.cost += reply.cost
        return replace(reply)

    async def aclose(self) -> None:
        """Mark the fake closed."""
        self.closed = True
