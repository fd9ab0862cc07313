"""Online re-calibration: keep the achieved escalation rate on target as live traffic drifts.

A threshold fit once on a calibration sample escalates the wrong share as soon as live traffic
differs from it (RouteLLM's drift). `OnlineCalibrator` re-fits each budgeted tier's threshold on
a sliding window of the live, unforced risk scores:

- the window holds the last `window` actions, each tagged with its agent, with the risk of the
  unforced ones. Forced escalations are not fit on (as in `calibrate`) but count in the
  denominator: with n actions in the window of which u are unforced, a tier with budget b is
  fit on the unforced risks with budget min(1, b * n / u), so b of all traffic escalates by risk;
- every `update_every` observations (once the window holds `min_samples`), each tier's
  threshold is re-fit to its budget on the window, with each agent's weight capped so that no
  agent carries more than `agent_share` of it (water-filling: the agents above the cap are cut
  down to a common count L, the largest with L <= agent_share * total; when there are fewer than
  1 / agent_share agents, all get equal weight);
- the new value may move at most a factor `1 + max_drift` from the previous one per update, and
  never leaves [base / bound, base * bound] around the configured threshold `base`.

So an agent that floods the gate (with low-risk traffic to drag the threshold down and cost
others escalations, or with mildly suspicious traffic to lift it and slip an attack under) moves
the threshold by its capped share at most, and by a bounded step per window.

The weighted threshold for budget b over weighted scores (s_i, w_i) with W = sum w_i: sort by
score descending, t = the first score where the cumulative weight reaches b * W; above = weight
strictly above t, ties = weight equal to t, tie_share = (b * W - above) / ties, clipped to [0, 1].
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stakes.triage._calibrate import Threshold

__all__ = ["OnlineCalibrator", "OnlineOptions", "weighted_threshold"]


@dataclass(frozen=True, slots=True)
class OnlineOptions:
    """How the online re-calibration runs (see the module docstring)."""

    window: int = 20_000
    update_every: int = 2_000
    min_samples: int = 2_000
    max_drift: float = 0.5
    bound: float = 8.0
    agent_share: float = 0.25


def weighted_threshold(scores: list[float], weights: list[float], budget: float) -> Threshold:
    """Fit a threshold so that a weighted fraction `budget` escalates (module docstring)."""
    total = sum(weights)
    if not scores or total <= 0:
        return Threshold(value=1.0, budget=budget)
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    target = budget * total
    cumulative = 0.0
    t = scores[order[-1]]
    for i in order:
        cumulative += weights[i]
        if cumulative >= target:
            t = scores[i]
            break
    above = sum(w for s, w in zip(scores, weights, strict=True) if s > t)
    ties = sum(w for s, w in zip(scores, weights, strict=True) if s == t)
    share = min(1.0, max(0.0, (target - above) / ties)) if ties else 0.0
    return Threshold(value=t, tie_share=share, budget=budget, fitted_on=len(scores),
                     achieved=(above + share * ties) / total)


def _caps(counts: Counter[str], share: float) -> dict[str, float]:
    """Per-agent weight per sample so that no agent holds more than `share` of the total."""
    if len(counts) * share < 1.0:  # infeasible: equal weight per agent
        return {a: 1.0 / c for a, c in counts.items()}
    values = sorted(counts.values())
    lo, hi = 1.0, float(values[-1])
    for _ in range(50):  # the largest level L with L <= share * sum(min(c, L))
        mid = (lo + hi) / 2.0
        if mid <= share * sum(min(c, mid) for c in values):
            lo = mid
        else:
            hi = mid
    return {a: min(c, lo) / c for a, c in counts.items()}


class OnlineCalibrator:
    """Re-fits budgeted thresholds on live traffic (module docstring).

    Args:
        base: The thresholds in force at start (the configured ones), per tier.
        budgets: The budget per tier to track.
        options: Window, cadence and guards.
    """

    def __init__(self, base: Mapping[str, Threshold], budgets: Mapping[str, float],
                 options: OnlineOptions = OnlineOptions()) -> None:
        self.options = options
        self.base = {t: base[t] for t in budgets if t in base}
        self.budgets = {t: budgets[t] for t in self.base}
        self.current = dict(self.base)
        self._window: deque[tuple[str, float | None]] = deque(maxlen=options.window)
        self._since = 0
        self.updates = 0
        self.clamped = 0
        self.seen = 0

    def observe(self, agent: str, risk: float | None) -> bool:
        """Record one action (risk None when it was forced); True when thresholds were re-fit."""
        self._window.append((agent, risk))
        self.seen += 1
        self._since += 1
        if self._since < self.options.update_every or len(self._window) < self.options.min_samples:
            return False
        self._since = 0
        self._refit()
        return True

    def _refit(self) -> None:
        window = [(agent, risk) for agent, risk in self._window if risk is not None]
        if not window:
            return
        scale = len(self._window) / len(window)
        counts = Counter(agent for agent, _ in window)
        per = _caps(counts, self.options.agent_share)
        scores = [risk for _, risk in window]
        weights = [per[agent] for agent, _ in window]
        step = 1.0 + self.options.max_drift
        for tier, budget in self.budgets.items():
            fitted = weighted_threshold(scores, weights, min(1.0, budget * scale))
            old = self.current[tier].value
            base = self.base[tier].value
            lo = max(old / step, base / self.options.bound)
            hi = min(old * step, base * self.options.bound)
            value, share = fitted.value, fitted.tie_share
            if value < lo or value > hi:
                value, share = min(max(value, lo), hi), 0.0
                self.clamped += 1
            self.current[tier] = Threshold(value=value, tie_share=share, budget=budget,
                                           fitted_on=len(self._window),
                                           achieved=(fitted.achieved or 0.0) / scale)
        self.updates += 1

    def achieved(self) -> dict[str, float]:
        """Share of the window's actions above each current threshold (ties not counted)."""
        n = len(self._window)
        if not n:
            return {t: math.nan for t in self.current}
        risks = [risk for _, risk in self._window if risk is not None]
        return {t: sum(1 for r in risks if r > th.value) / n for t, th in self.current.items()}

    def report(self) -> dict[str, Any]:
        """Per tier: target, achieved on the window, current and base thresholds; counters."""
        achieved = self.achieved()
        return {
            "tiers": {t: {"target": self.budgets[t], "achieved_window": achieved[t],
                          "threshold": self.current[t].value, "base": self.base[t].value}
                      for t in self.current},
            "window": len(self._window), "seen": self.seen, "updates": self.updates,
            "clamped": self.clamped,
        }
