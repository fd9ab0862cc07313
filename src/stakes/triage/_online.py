"""Online re-calibration: keep the achieved escalation rate on target as live traffic drifts.

A threshold fit once on a calibration sample escalates the wrong share as soon as live traffic
differs from it (RouteLLM's drift). `OnlineCalibrator` re-fits each budgeted tier's threshold on
a sliding window of the live, unforced risk scores:

- the window holds the last `window` actions, each tagged with its agent, with the risk of the
  unforced ones. Forced escalations are not fit on (as in `calibrate`) but count in the
  denominator: with n actions in the window of which u are unforced, a tier with budget b is
  fit on the unforced risks with budget min(1, b * n / u), so b of all traffic escalates by risk;
- every `update_every` observations (once the window holds `min_samples`), each tier's
  threshold is re-fit to its budget on the window, with each agent's share of it capped: agent a
  may carry at most cap_a of the re-fit's weight (water-filling, `_weights`), where
  cap_a = max(`agent_share`, `growth` x its smallest effective share over the re-fits of the
  last window). The first re-fit takes the window as it is (no history to compare with; the
  bounded step below still applies). An agent that always sent most of
  the traffic keeps its share, so the threshold still targets the budget over all traffic; an
  agent whose share jumps (a flood) counts at most `growth` times its former share per window;
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
    growth: float = 1.5


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


def _weights(counts: Counter[str], caps: Mapping[str, float]) -> dict[str, float]:
    """Per-action weight per agent so that each agent's share of the mass is at most its cap.

    Iterative water-filling: the agents over their cap are set to exactly cap_a * T, where T is
    the total mass once they are (T = the others' mass / (1 - the sum of their caps)), until
    nobody is over. When the caps of the agents over them sum to 1 or more, or no agent is
    left under its cap, nothing can be done exactly and the weights found so far stand.
    """
    mass = {agent: float(c) for agent, c in counts.items()}
    for _ in range(len(mass) + 1):
        total = sum(mass.values())
        over = [a for a, m in mass.items() if m > caps[a] * total * (1 + 1e-9)]
        if not over:
            break
        capped = sum(caps[a] for a in over)
        if capped >= 1.0:
            break
        fixed = set(over)
        rest = sum(m for a, m in mass.items() if a not in fixed)
        if rest <= 0.0:  # only capped agents are left: their relative weights stand
            break
        target = rest / (1.0 - capped)
        for a in over:
            mass[a] = caps[a] * target
    return {agent: mass[agent] / counts[agent] for agent in counts}


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
        # effective shares at the last re-fits that span one window
        self._history: deque[dict[str, float]] = deque(
            maxlen=max(1, options.window // options.update_every))
        self.updates = 0
        self.clamped = 0
        self.seen = 0
        self.errors = 0
        self.last_error: str | None = None

    def observe(self, agent: str, risk: float | None) -> bool:
        """Record one action (risk None when it was forced); True when thresholds were re-fit.

        A re-fit that fails keeps the thresholds in force (counted in `errors`): the actions
        themselves were already triaged, so nothing is let through by it.
        """
        self._window.append((agent, risk))
        self.seen += 1
        self._since += 1
        if self._since < self.options.update_every or len(self._window) < self.options.min_samples:
            return False
        self._since = 0
        try:
            self._refit()
        except (ArithmeticError, ValueError) as exc:  # keep the thresholds in force
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        return True

    def _refit(self) -> None:
        window = [(agent, risk) for agent, risk in self._window if risk is not None]
        if not window:
            return
        scale = len(self._window) / len(window)
        counts = Counter(agent for agent, _ in window)
        opts = self.options
        history = self._history
        caps = {agent: max(opts.agent_share, opts.growth * min(
            (shares.get(agent, 0.0) for shares in history), default=0.0))
            for agent in counts} if history else dict.fromkeys(counts, 1.0)
        per = _weights(counts, caps)
        mass = sum(counts[agent] * w for agent, w in per.items())
        history.append({agent: counts[agent] * w / mass for agent, w in per.items()})
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
            "clamped": self.clamped, "errors": self.errors,
        }
