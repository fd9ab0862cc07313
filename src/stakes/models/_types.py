"""The model backend interface: `ChatRequest` in, `ChatResponse` out, one async method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypedDict, runtime_checkable

from stakes.models._errors import ModelError

__all__ = ["ChatRequest", "ChatResponse", "Message", "ModelBackend", "Prices"]

_ROLES = frozenset({"user", "assistant"})


class Message(TypedDict):
    """One chat turn: `role` is `user` or `assistant` (the system prompt travels apart)."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Prices:
    """Token prices in dollars per million tokens (zero for a local model).

    Attributes:
        input_per_mtok: Dollars per million input (prompt) tokens.
        output_per_mtok: Dollars per million output (completion) tokens.
    """

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def __post_init__(self) -> None:
        for name in ("input_per_mtok", "output_per_mtok"):
            value = getattr(self, name)
            if not value >= 0:  # also rejects NaN
                raise ModelError(f"`{name}` must be >= 0, got `{value}`",
                                 code="model.config", field=name)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Dollars for a call.

        Formula: `(input_tokens x input_per_mtok + output_tokens x output_per_mtok) / 1e6`.
        """
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


def _freeze_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[Message, ...]:
    if isinstance(messages, str | bytes) or not messages:
        raise ModelError("a chat request needs at least one message",
                         code="model.request", field="messages")
    frozen: list[Message] = []
    for i, msg in enumerate(messages):
        role, content = msg.get("role"), msg.get("content")
        if role not in _ROLES:
            raise ModelError(f"role must be `user` or `assistant`, got `{role}`",
                             code="model.request", field=f"messages[{i}].role")
        if not isinstance(content, str):
            raise ModelError(f"content must be a string, got `{type(content).__name__}`",
                             code="model.request", field=f"messages[{i}].content")
        frozen.append(Message(role=role, content=content))
    return tuple(frozen)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat completion request, independent of the provider.

    Attributes:
        messages: The conversation, `{role, content}` turns with role `user` or `assistant`
            (stored as a tuple of copies).
        system: The system prompt, if any (sent the way each provider expects it).
        max_tokens: The most tokens the model may produce.
        temperature: Sampling temperature; None leaves the provider's default.
        stop: Stop sequences (stored as a tuple).
        metadata: Caller data kept with the request (never sent to the provider).

    Raises:
        ModelError: `model.request` for no messages, an unknown role, non-string content or a
            non-positive `max_tokens`.
    """

    messages: Sequence[Message]
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    stop: Sequence[str] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _freeze_messages(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) \
                or self.max_tokens <= 0:
            raise ModelError(f"`max_tokens` must be a positive integer, got `{self.max_tokens}`",
                             code="model.request", field="max_tokens")
        if self.temperature is not None and not self.temperature >= 0:
            raise ModelError(f"`temperature` must be >= 0, got `{self.temperature}`",
                             code="model.request", field="temperature")

    @classmethod
    def user(cls, content: str, **kwargs: Any) -> ChatRequest:
        """A request with one user message; other fields as keyword arguments."""
        return cls(messages=(Message(role="user", content=content),), **kwargs)


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """A model's answer with what it cost.

    Attributes:
        text: The generated text (text blocks joined; empty when the model produced none).
        input_tokens: Prompt tokens, as the provider reported them.
        output_tokens: Completion tokens, as the provider reported them.
        model: The model that answered, as the provider named it.
        latency_s: Wall-clock seconds of the whole call, retries and backoff included.
        cost: Dollars, from the token usage and the backend's `Prices`.
        finish_reason: The provider's raw stop reason (`stop`, `length`, `end_turn`, ...).
    """

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    latency_s: float
    cost: float
    finish_reason: str | None = None


@runtime_checkable
class ModelBackend(Protocol):
    """A chat model. One method, plus `aclose` to release connections."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Answer `request`; raise `ModelError` (never return an empty answer) on failure."""
        ...

    async def aclose(self) -> None:
        """Release network resources; the backend is not used afterwards."""
        ...
