"""Detection metrics: pure functions over scores, each formula and tie rule in its docstring.

Budgets and rates are fractions in [0, 1], never percentages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stakes.triage import Threshold, fit_threshold

__all__ = ["Detection", "detection_at", "roc_auc", "tpr_at"]


def roc_auc(benign: Sequence[float], harmful: Sequence[float]) -> float:
    """Area under the ROC curve: P(h > b) + P(h == b) / 2 over a random harmful/benign pair.

    Computed from ranks (the Mann-Whitney U statistic with mid-ranks for ties) in
    O((n + m) log(n + m)).

    Raises:
        ValueError: when either side is empty.
    """
    if not benign or not harmful:
        raise ValueError("roc auc needs at least one benign and one harmful score")
    pooled = sorted([(s, 0) for s in benign] + [(s, 1) for s in harmful])
    rank_sum = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        mid = (i + j) / 2.0 + 1.0  # 1-based mid-rank of the tie block
        rank_sum += mid * sum(1 for k in range(i, j + 1) if pooled[k][1] == 1)
        i = j + 1
    m, n = len(harmful), len(benign)
    return (rank_sum - m * (m + 1) / 2.0) / (m * n)


def tpr_at(threshold: Threshold, harmful: Sequence[float]) -> float:
    """Expected share of `harmful` scores that escalate at `threshold`.

    A score above the threshold escalates; a score equal to it escalates with probability
    `tie_share` (the same share the benign ties get), so
    tpr = (#{h > t} + tie_share * #{h == t}) / #harmful.
    """
    if not harmful:
        return math.nan
    above = sum(1 for h in harmful if h > threshold.value)
    ties = sum(1 for h in harmful if h == threshold.value)
    return (above + threshold.tie_share * ties) / len(harmful)


@dataclass(frozen=True, slots=True)
class Detection:
    """Detection at one benign escalation budget.

    Attributes:
        budget: The target share of benign actions escalated.
        threshold: Fit on the benign scores (`fit_threshold`: the (1 - budget) quantile, ties
            shared so that exactly `budget` escalates).
        tpr: The share of harmful actions escalated at that threshold (`tpr_at`).
    """

    budget: float
    threshold: Threshold
    tpr: float


def detection_at(benign: Sequence[float], harmful: Sequence[float], budget: float) -> Detection:
    """Fit the threshold on `benign` for `budget` and measure the true-positive rate."""
    threshold = fit_threshold(benign, budget)
    return Detection(budget=budget, threshold=threshold, tpr=tpr_at(threshold, harmful))
