"""Stateful limits per agent, O(1) per action.

Window limits keep a ring of `BUCKETS` time buckets per (limit, agent): the window total is
a running sum, and expired buckets are subtracted as time advances, so each action costs
O(1) amortized. The window is therefore approximate to one bucket width (`per / BUCKETS`),
erring towards counting more (an old bucket leaves only once fully outside the window).

Sequence limits keep, per (limit, agent), the last time each prefix of the sequence was
completed; a step completes its prefix only within `within` seconds of the previous one.

Attempts count, not only executed actions: a limit tripped by proposals that were then blocked
still trips (fail closed).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stakes.domain import Action, Reason
from stakes.policy._match import _MISSING, compile_globs, fold, glob_matcher, lookup
from stakes.policy._schema import LimitSpec

__all__ = ["BUCKETS", "CompiledLimit", "LimitState", "LimitTrip"]

BUCKETS = 32


@dataclass(frozen=True, slots=True)
class LimitTrip:
    """A limit that this action trips."""

    name: str
    stakes: int
    block: bool
    reason: Reason


@dataclass(slots=True)
class _Window:
    total: float = 0.0
    buckets: deque[tuple[int, float]] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class _SeqStep:
    tool_rx: Any
    arg_rx: tuple[tuple[str, Callable[[str], bool]], ...]

    def matches(self, action: Action) -> bool:
        return bool(self.tool_rx.match(action.tool)) and self.args_match(action)

    def args_match(self, action: Action) -> bool:
        for arg, test in self.arg_rx:
            value = lookup(action.args, arg)
            if value is _MISSING or not test(fold(str(value))):
                return False
        return True


class LimitState:
    """Mutable per-agent state for all limits of one policy (one per gate)."""

    __slots__ = ("sequences", "windows")

    def __init__(self) -> None:
        self.windows: dict[tuple[int, str], _Window] = {}
        self.sequences: dict[tuple[int, str], list[float | None]] = {}


@dataclass(frozen=True, slots=True)
class CompiledLimit:
    """A compiled limit; `observe` updates state and reports a trip."""

    index: int
    name: str
    spec: LimitSpec
    tool_rx: Any
    steps: tuple[_SeqStep, ...]
    step_cache: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, spec: LimitSpec, index: int) -> CompiledLimit:
        """Compile one limit spec."""
        steps: list[_SeqStep] = []
        for step in spec.sequence or ():
            extra = step.model_extra or {}
            steps.append(_SeqStep(
                tool_rx=compile_globs([step.tool]),
                arg_rx=tuple((k, glob_matcher(fold(str(v)))) for k, v in extra.items()),
            ))
        name = spec.name or (
            f"sequence-{index}" if spec.sequence else
            f"{spec.capability or spec.tool}-{'sum-' + spec.sum if spec.sum else 'count'}"
        )
        return cls(
            index=index, name=name, spec=spec,
            tool_rx=compile_globs([spec.tool]) if spec.tool else None, steps=tuple(steps),
        )

    def may_apply(self, tool: str, capabilities: set[str]) -> bool:
        """Whether an action of `tool`, matching some of `capabilities`, can touch this limit."""
        if self.steps:
            return any(step.tool_rx.match(tool) for step in self.steps)
        if self.spec.capability is not None and self.spec.capability not in capabilities:
            return False
        return self.tool_rx is None or bool(self.tool_rx.match(tool))

    def observe(
        self, action: Action, capability: str | None, agent: str, now: float, state: LimitState
    ) -> LimitTrip | None:
        """Count this action against the limit; return a trip when it goes over."""
        if self.steps:
            return self._observe_sequence(action, agent, now, state)
        spec = self.spec
        if spec.capability is not None and capability != spec.capability:
            return None
        if self.tool_rx is not None and not self.tool_rx.match(action.tool):
            return None
        if not spec.sum:
            return self._count(agent, now, state, 1.0)
        amount = _amount(lookup(action.args, spec.sum))
        if amount is None:
            # An unreadable amount on a summed limit cannot be shown to fit: trip.
            return self._trip(f"`{spec.sum}` is missing or not a number", spec.max or 0.0)
        # A negative amount must not buy headroom in the window.
        return self._count(agent, now, state, abs(amount))

    def _count(self, agent: str, now: float, state: LimitState, amount: float) -> LimitTrip | None:
        spec = self.spec
        per = float(spec.per or 0.0)
        width = per / BUCKETS
        bucket = int(now // width)
        window = state.windows.get((self.index, agent))
        if window is None:
            window = state.windows[(self.index, agent)] = _Window()
        oldest = bucket - BUCKETS + 1
        while window.buckets and window.buckets[0][0] < oldest:
            window.total -= window.buckets.popleft()[1]
        if window.buckets and window.buckets[-1][0] == bucket:
            last = window.buckets.pop()
            window.buckets.append((bucket, last[1] + amount))
        else:
            window.buckets.append((bucket, amount))
        window.total += amount
        if spec.max is not None and window.total > spec.max:
            what = f"sum of `{spec.sum}`" if spec.sum else "count"
            return self._trip(
                f"{what} {window.total:g} over {per:g}s exceeds {spec.max:g}", window.total
            )
        return None

    def _observe_sequence(
        self, action: Action, agent: str, now: float, state: LimitState
    ) -> LimitTrip | None:
        matched = [i for i in self._steps_for(action.tool) if self.steps[i].args_match(action)]
        if not matched:
            return None
        within = float(self.spec.within or 0.0)
        progress = state.sequences.get((self.index, agent))
        if progress is None:
            progress = state.sequences[(self.index, agent)] = [None] * len(self.steps)
        tripped = False
        # Walk backwards so one action advances the sequence by at most one step.
        for i in reversed(matched):
            if i == 0:
                progress[0] = now
                continue
            previous = progress[i - 1]
            if previous is not None and now - previous <= within:
                if i == len(self.steps) - 1:
                    tripped = True
                else:
                    progress[i] = now
        if tripped:
            tools = " then ".join(f"`{s.tool}`" for s in self.spec.sequence or ())
            return self._trip(f"sequence {tools} within {within:g}s", None)
        return None

    def _steps_for(self, tool: str) -> tuple[int, ...]:
        """Indices of the sequence steps whose tool glob matches `tool` (cached per tool)."""
        found = self.step_cache.get(tool)
        if found is None:
            found = tuple(i for i, s in enumerate(self.steps) if s.tool_rx.match(tool))
            if len(self.step_cache) >= 65_536:
                self.step_cache.clear()
            self.step_cache[tool] = found
        return found

    def _trip(self, detail: str, value: float | None) -> LimitTrip:
        return LimitTrip(
            name=self.name,
            stakes=self.spec.stakes,
            block=self.spec.then == "block",
            reason=Reason(f"limit:{self.name}", detail, value),
        )


def _amount(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is _MISSING:
        return None
    if isinstance(raw, int | float):
        return float(raw) if raw == raw else None
    if isinstance(raw, str):
        try:
            return float(raw.replace(",", "").replace("_", "").strip())
        except ValueError:
            return None
    if isinstance(raw, Mapping) and "value" in raw:
        return _amount(raw["value"])
    return None
