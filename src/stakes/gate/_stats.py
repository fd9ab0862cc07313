"""Live counters kept by the gate: traffic per tier and verdict, costs, escalation rates."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stakes.domain import Decision
from stakes.triage import OnlineCalibrator

__all__ = ["GateStats"]

# (tier, verdict, escalated by risk, escalated by force, cleared by monitors)
#   -> [count, agent cost, control cost]
_Key = tuple[str, str, bool, bool, bool]


@dataclass
class GateStats:
    """Counters over every decision this gate made.

    `blended_tax` = control_cost / agent_cost. `risk_escalation_rate` = actions that left the
    routine tier because of their risk / all actions (what the budget targets);
    `final_risk_escalation_rate` = the same minus those a cascade's monitors cleared (every step
    a `monitor` and the verdict `allow`: a second stage, such as the semantic monitor, that
    screened the first stage's pick back out), the cascade's final rate;
    `forced_escalation_rate` = actions forced out by stakes, clearance or a limit / all actions
    (mandatory: reported apart, never dropped to fit the budget); `forced_tax` = the control
    cost of those / agent cost (the part of the blended tax the budget cannot trade away).

    `add` runs for every action, so it only appends the decision to a queue (`deque.append`
    is atomic: no lock on the hot path); the queue is folded into rows keyed by
    (tier, verdict, cause) under a lock every `FOLD_EVERY` decisions and whenever read.
    """

    FOLD_EVERY = 4096

    budget: float
    tax_budget: float = 0.10
    online: Callable[[], OnlineCalibrator | None] | None = field(default=None, repr=False)
    """Where to read the online re-calibration state from (the gate's current calibrator)."""
    _queue: deque[Decision] = field(default_factory=deque, repr=False)
    _rows: dict[_Key, list[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, decision: Decision) -> None:
        """Count one decision."""
        self._queue.append(decision)
        if len(self._queue) >= self.FOLD_EVERY:
            self._fold()

    def _fold(self) -> None:
        """Move queued decisions into the rows (thread-safe: popleft is atomic)."""
        queue, rows = self._queue, self._rows
        with self._lock:
            while queue:
                try:
                    decision = queue.popleft()
                except IndexError:  # another thread emptied it first
                    break
                a = decision.assessment
                forced = bool(a.forced)
                steps = decision.steps
                cleared = bool(steps) and decision.verdict == "allow" and all(
                    step.step == "monitor" for step in steps)
                key = (a.tier, decision.verdict, a.escalate and not forced,
                       a.escalate and forced, cleared)
                row = rows.get(key)
                if row is None:
                    row = rows[key] = [0, 0.0, 0.0]
                row[0] += 1
                row[1] += decision.agent_cost
                row[2] += decision.control_cost

    @property
    def total(self) -> int:
        """Decisions counted."""
        self._fold()
        with self._lock:
            return int(sum(row[0] for row in self._rows.values()))

    def to_json(self) -> dict[str, Any]:
        """A snapshot: counts, rates (fractions) and the blended safety tax."""
        self._fold()
        with self._lock:
            rows = [(key, list(row)) for key, row in self._rows.items()]
        tiers: dict[str, int] = {}
        verdicts: dict[str, int] = {}
        total = risk = forced = screened = 0
        agent_cost = control_cost = forced_cost = 0.0
        for (tier, verdict, by_risk, by_force, cleared), (count, agent, control) in rows:
            n = int(count)
            total += n
            tiers[tier] = tiers.get(tier, 0) + n
            verdicts[str(verdict)] = verdicts.get(str(verdict), 0) + n
            agent_cost += agent
            control_cost += control
            if by_risk:
                risk += n
                if cleared:
                    screened += n
            if by_force:
                forced += n
                forced_cost += control
        per = total or 1
        online = self.online() if self.online is not None else None
        return {
            "actions": total,
            "tiers": tiers,
            "verdicts": verdicts,
            "escalation_budget": self.budget,
            "risk_escalation_rate": risk / per,
            "final_risk_escalation_rate": (risk - screened) / per,
            "forced_escalation_rate": forced / per,
            "agent_cost": agent_cost,
            "control_cost": control_cost,
            "blended_tax": control_cost / agent_cost if agent_cost else 0.0,
            "forced_tax": forced_cost / agent_cost if agent_cost else 0.0,
            "safety_tax_budget": self.tax_budget,
            "recalibration": online.report() if online is not None else None,
        }
