"""Bootstrap confidence intervals, resampling clusters (tasks), stratified.

Examples of one task are not independent (the calls of one trajectory share a context), so the
unit of resampling is the cluster, not the example: each resample draws, within each stratum
(a fold, a suite), as many clusters as the stratum has, with replacement, and recomputes the
statistic on the union. The interval is the percentile interval of the resampled statistics;
resamples where the statistic is undefined (NaN: no harmful example drawn, say) are dropped and
counted. Deterministic for a seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Interval", "bootstrap", "bootstrap_many"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a bootstrap percentile interval.

    Attributes:
        estimate: The statistic on the data as observed.
        low: The (1 - level) / 2 percentile of the resampled statistics.
        high: The (1 + level) / 2 percentile.
        n: The sample size the statistic is about (caller-defined: e.g. harmful examples).
        level: The confidence level (0.95).
        resamples: Resamples used (undefined ones excluded).
    """

    estimate: float
    low: float
    high: float
    n: int
    level: float = 0.95
    resamples: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON view, rounded to 4 decimals."""
        def r(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 4)
        return {"estimate": r(self.estimate), "low": r(self.low), "high": r(self.high),
                "n": self.n, "level": self.level, "resamples": self.resamples}

    def __str__(self) -> str:
        if math.isnan(self.estimate):
            return f"n/a (n={self.n})"
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] n={self.n}"

    def overlaps(self, other: Interval) -> bool:
        """True when the two intervals overlap (the difference may be noise)."""
        return self.low <= other.high and other.low <= self.high


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of sorted values, q in [0, 1]."""
    if not sorted_values:
        return math.nan
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap(
    strata: Sequence[Sequence[T]],
    statistic: Callable[[Sequence[Sequence[T]]], float],
    *,
    n: int,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """A stratified cluster bootstrap interval for `statistic`.

    Args:
        strata: Per stratum, its clusters (any objects the statistic understands).
        statistic: Maps per-stratum cluster lists to a number (NaN when undefined).
        n: The sample size to report with the interval.
        resamples: Number of bootstrap resamples.
        level: Confidence level in (0, 1).
        seed: Seed of the resampling.

    Returns:
        The estimate on the observed strata and the percentile interval.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got `{level}`")
    estimate = statistic(strata)
    rng = random.Random(seed)
    values: list[float] = []
    for _ in range(resamples):
        drawn = [[stratum[rng.randrange(len(stratum))] for _ in stratum] if stratum else []
                 for stratum in strata]
        value = statistic(drawn)
        if not math.isnan(value):
            values.append(value)
    values.sort()
    alpha = (1.0 - level) / 2.0
    return Interval(estimate=estimate, low=_percentile(values, alpha),
                    high=_percentile(values, 1.0 - alpha), n=n, level=level,
                    resamples=len(values))


def bootstrap_many(
    strata: Sequence[Sequence[T]],
    statistics: Callable[[Sequence[Sequence[T]]], dict[str, float]],
    *,
    sizes: dict[str, int],
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """`bootstrap` for many statistics at once, all computed on the same resamples.

    Args:
        strata: Per stratum, its clusters.
        statistics: Maps per-stratum cluster lists to named numbers (NaN when undefined).
        sizes: The sample size to report per statistic name (0 when absent).
        resamples: Number of bootstrap resamples.
        level: Confidence level in (0, 1).
        seed: Seed of the resampling.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got `{level}`")
    observed = statistics(strata)
    rng = random.Random(seed)
    values: dict[str, list[float]] = {name: [] for name in observed}
    for _ in range(resamples):
        drawn = [[stratum[rng.randrange(len(stratum))] for _ in stratum] if stratum else []
                 for stratum in strata]
        for name, value in statistics(drawn).items():
            if name in values and not math.isnan(value):
                values[name].append(value)
    alpha = (1.0 - level) / 2.0
    out: dict[str, Interval] = {}
    for name, estimate in observed.items():
        got = sorted(values[name])
        out[name] = Interval(estimate=estimate, low=_percentile(got, alpha),
                             high=_percentile(got, 1.0 - alpha), n=sizes.get(name, 0),
                             level=level, resamples=len(got))
    return out
