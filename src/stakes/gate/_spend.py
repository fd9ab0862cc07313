"""Spend limits: control cost reserved before it is spent, so bursts never overshoot.

A limit caps the control cost an agent's actions may incur per period (fixed windows aligned
to the epoch: the window of time t starts at floor(t / period) * period). A step reserves its
declared cost *before* it runs; the reservation either fits under every limit that applies, in
one critical section, or fails and reserves nothing. When the step ends, the reservation is
settled at the measured cost (at most the reserved amount is kept; anything above it is charged
too, since it was spent) or released when the step did not run.

So with any number of concurrent callers, sum(reserved and settled) <= limit at every moment:
the check and the increment happen under one lock, and nothing is charged outside it. This is
the opposite of checking after the spend, where a burst of concurrent calls each see room and
all overshoot. An exhausted limit never waves an action through: the caller holds or blocks it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

__all__ = ["Reservation", "SpendLimit", "SpendLimits"]


@dataclass(frozen=True, slots=True)
class SpendLimit:
    """At most `limit` cost units per `period_s` seconds, for one agent (or `*`: each agent).

    Attributes:
        agent: The agent id, or `*` for a limit that applies to every agent separately.
        limit: Cost units per period (> 0).
        period_s: The period in seconds (> 0).
    """

    agent: str
    limit: float
    period_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise ValueError(f"spend limit must be a positive number, got `{self.limit}`")
        if not (math.isfinite(self.period_s) and self.period_s > 0):
            raise ValueError(f"spend period must be a positive number, got `{self.period_s}`")


@dataclass(slots=True)
class Reservation:
    """Cost held against the limits that applied when it was made.

    Attributes:
        agent: Whose spend.
        amount: Units held.
        keys: The (limit index, window start) buckets it is held in.
        open: False once settled or released.
    """

    agent: str
    amount: float
    keys: tuple[tuple[int, float], ...]
    open: bool = True


@dataclass
class SpendLimits:
    """Thread-safe reservations against per-agent spend limits (see module docstring)."""

    limits: tuple[SpendLimit, ...] = ()
    _spent: dict[tuple[str, int, float], float] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _applicable(self, agent: str) -> list[tuple[int, SpendLimit]]:
        return [(i, lim) for i, lim in enumerate(self.limits) if lim.agent in (agent, "*")]

    def reserve(self, agent: str, amount: float, now: float) -> Reservation | None:
        """Hold `amount` for `agent` at time `now`; None (nothing held) when over a limit.

        Raises:
            ValueError: when `amount` is negative or not finite.
        """
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"reserved cost must be a number >= 0, got `{amount}`")
        applicable = self._applicable(agent)
        keys = tuple((i, math.floor(now / lim.period_s) * lim.period_s) for i, lim in applicable)
        with self._lock:
            for (i, start), (_, lim) in zip(keys, applicable, strict=True):
                if self._spent.get((agent, i, start), 0.0) + amount > lim.limit + 1e-12:
                    return None
            for i, start in keys:
                self._spent[(agent, i, start)] = self._spent.get((agent, i, start), 0.0) + amount
        return Reservation(agent=agent, amount=amount, keys=keys)

    def settle(self, reservation: Reservation, actual: float) -> None:
        """Charge the measured cost: release what was held beyond it, add what went over."""
        if not reservation.open:
            return
        if not (math.isfinite(actual) and actual >= 0):
            actual = reservation.amount  # an unmeasured cost counts as what was declared
        delta = actual - reservation.amount
        with self._lock:
            for i, start in reservation.keys:
                key = (reservation.agent, i, start)
                self._spent[key] = max(0.0, self._spent.get(key, 0.0) + delta)
            reservation.open = False

    def release(self, reservation: Reservation) -> None:
        """Give the whole reservation back (the step did not run)."""
        self.settle(reservation, 0.0)

    def spent(self, agent: str, now: float) -> dict[int, float]:
        """Held + settled cost per applicable limit (by index) in the current window."""
        with self._lock:
            return {i: self._spent.get((agent, i, math.floor(now / lim.period_s) * lim.period_s),
                                       0.0)
                    for i, lim in self._applicable(agent)}
