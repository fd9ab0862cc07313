"""Fakes behind the one-method plug-in interfaces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from stakes.control import MonitorScore, StepContext, StepParams, StepResult
from stakes.domain import Action

__all__ = ["FakeClock", "ScriptedMonitor", "ScriptedStep", "ScriptedTrustedAgent"]


class FakeClock:
    """A clock that only moves when told. Call it for the current UTC time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


class ScriptedMonitor:
    """A monitor that returns scripted values in order (then repeats the last).

    A value may be a float, an exception instance (raised), `"hang"` (sleeps forever), or any
    other object (returned as the suspicion, to test garbage handling).
    """

    def __init__(self, values: Iterable[Any]) -> None:
        self.values = list(values)
        self.calls = 0

    async def score(self, action: Action, ctx: StepContext) -> MonitorScore:
        """The next scripted value."""
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        if isinstance(value, BaseException):
            raise value
        if value == "hang":
            await asyncio.sleep(3600)
        return MonitorScore(value)


class ScriptedTrustedAgent:
    """A trusted agent that answers with `propose(action) -> Action | None` from a function."""

    def __init__(self, propose: Callable[[Action], Action | None]) -> None:
        self._propose = propose
        self.calls: list[Action] = []

    async def propose(self, action: Action, ctx: StepContext) -> Action | None:
        """The scripted proposal."""
        self.calls.append(action)
        return self._propose(action)


class ScriptedStep:
    """A control protocol step that returns (or raises, or hangs with) a scripted value.

    Not registered: build it directly and put it in a pipeline in tests.
    """

    name: ClassVar[str] = "scripted"

    def __init__(self, behaviour: Any, *, cost: float = 1.0, timeout: float = 0.2) -> None:
        self.behaviour = behaviour
        self.params = StepParams(cost=cost, timeout=timeout)

    async def run(self, ctx: StepContext) -> StepResult:
        """Return, raise or hang as scripted."""
        if isinstance(self.behaviour, BaseException):
            raise self.behaviour
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        result: StepResult = self.behaviour
        return result
