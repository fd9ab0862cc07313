"""Thresholds fit to a budget: the (1 - b) quantile of honest scores, with ties shared."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Threshold", "fit_threshold", "tie_draw"]


def tie_draw(key: str) -> float:
    """A deterministic draw in [0, 1) from a key: CRC-32 of its UTF-8 bytes / 2**32.

    Used to spend the tie share at a threshold reproducibly (the same action id always gets
    the same draw), so triage stays a pure function.
    """
    return zlib.crc32(key.encode()) / 4294967296.0


@dataclass(frozen=True, slots=True)
class Threshold:
    """A risk threshold and the share of ties at it that escalate.

    An action escalates when `risk > value`, or when `risk == value` and
    `tie_draw(action id) < tie_share`.

    Attributes:
        value: The threshold.
        tie_share: Fraction of scores equal to `value` that escalate, in [0, 1].
        budget: The target fraction it was fit to (None for an absolute threshold).
        fitted_on: How many honest scores it was fit on (0 for an absolute threshold).
        achieved: The expected escalated fraction on the fitting sample
            (`(above + tie_share * ties) / n`); equals `budget` unless the sample was empty.
    """

    value: float
    tie_share: float = 0.0
    budget: float | None = None
    fitted_on: int = 0
    achieved: float | None = None

    def exceeded(self, risk: float, key: str) -> bool:
        """True when `risk` escalates at this threshold (ties broken by `tie_draw(key)`)."""
        if risk > self.value:
            return True
        return risk == self.value and self.tie_share > 0.0 and tie_draw(key) < self.tie_share

    def to_json(self) -> dict[str, Any]:
        """JSON view (what the ledger records as the threshold in force)."""
        out: dict[str, Any] = {"value": self.value, "tie_share": round(self.tie_share, 9)}
        if self.budget is not None:
            out["budget"] = self.budget
            out["fitted_on"] = self.fitted_on
            out["achieved"] = self.achieved
        return out


def fit_threshold(scores: Iterable[float], budget: float) -> Threshold:
    """Fit a threshold so that exactly a fraction `budget` of `scores` escalates.

    With n scores sorted in decreasing order s_1 >= ... >= s_n and m = budget * n, the
    threshold is t = s_(floor(m) + 1) (the (1 - budget) quantile), `above` = #{s > t},
    `ties` = #{s == t}, and tie_share = (m - above) / ties, clipped to [0, 1]. Then the expected
    number escalated, above + tie_share * ties, equals m exactly. When m >= n every score
    escalates (t = s_n, tie_share = 1); an empty sample gives t = 1 with no ties escalated
    (only risk above 1, i.e. nothing, escalates by risk), and `achieved` is None.

    Args:
        scores: Honest risk scores.
        budget: Target escalated fraction in [0, 1].

    Raises:
        ValueError: when `budget` is outside [0, 1] or a score is not a finite number.
    """
    if not 0.0 <= budget <= 1.0:
        raise ValueError(f"budget must be a fraction in [0, 1], got `{budget}`")
    values = sorted((float(s) for s in scores), reverse=True)
    if any(not math.isfinite(v) for v in values):
        raise ValueError("scores must be finite numbers")
    n = len(values)
    if n == 0:
        return Threshold(value=1.0, tie_share=0.0, budget=budget, fitted_on=0, achieved=None)
    m = budget * n
    index = min(math.floor(m), n - 1)
    t = values[index]
    above = sum(1 for v in values if v > t)
    ties = sum(1 for v in values if v == t)
    share = min(1.0, max(0.0, (m - above) / ties))
    achieved = (above + share * ties) / n
    return Threshold(value=t, tie_share=share, budget=budget, fitted_on=n, achieved=achieved)
