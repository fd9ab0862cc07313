"""Live counters kept by the gate: traffic per tier and verdict, costs, escalation rates."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from stakes.domain import Decision

__all__ = ["GateStats"]


@dataclass
class GateStats:
    """Counters over every decision this gate made.

    `blended_tax` = control_cost / agent_cost. `risk_escalation_rate` = actions that left the
    routine tier because of their risk / all actions (what the budget targets);
    `forced_escalation_rate` = actions forced out by stakes, clearance or a limit / all actions
    (mandatory: reported apart, never dropped to fit the budget); `forced_tax` = the control
    cost of those / agent cost (the part of the blended tax the budget cannot trade away).
    """

    budget: float
    tax_budget: float = 0.10
    total: int = 0
    risk_escalated: int = 0
    forced_escalated: int = 0
    agent_cost: float = 0.0
    control_cost: float = 0.0
    forced_cost: float = 0.0
    """Control cost spent on mandatory escalations (stakes, clearance, limits)."""
    tiers: dict[str, int] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, decision: Decision) -> None:
        """Count one decision."""
        a = decision.assessment
        tiers, verdicts = self.tiers, self.verdicts
        verdict = decision.verdict  # a StrEnum: hashes and serializes as its value
        with self._lock:
            self.total += 1
            tiers[a.tier] = tiers.get(a.tier, 0) + 1
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            self.agent_cost += decision.agent_cost
            if decision.control_cost:
                self.control_cost += decision.control_cost
                if a.forced:
                    self.forced_cost += decision.control_cost
            if a.escalate:
                if a.forced:
                    self.forced_escalated += 1
                else:
                    self.risk_escalated += 1

    def to_json(self) -> dict[str, Any]:
        """A snapshot: counts, rates (fractions) and the blended safety tax."""
        with self._lock:
            n = self.total or 1
            return {
                "actions": self.total,
                "tiers": dict(self.tiers),
                "verdicts": dict(self.verdicts),
                "escalation_budget": self.budget,
                "risk_escalation_rate": self.risk_escalated / n,
                "forced_escalation_rate": self.forced_escalated / n,
                "agent_cost": self.agent_cost,
                "control_cost": self.control_cost,
                "blended_tax": self.control_cost / self.agent_cost if self.agent_cost else 0.0,
                "forced_tax": self.forced_cost / self.agent_cost if self.agent_cost else 0.0,
                "safety_tax_budget": self.tax_budget,
            }
