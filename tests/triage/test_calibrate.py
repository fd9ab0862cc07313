"""Budget thresholds: the (1 - b) quantile of honest scores with ties shared exactly."""

from __future__ import annotations

import math

import pytest

from stakes.triage import Threshold, fit_threshold, tie_draw


def _expected_escalated(scores: list[float], t: Threshold) -> float:
    above = sum(1 for s in scores if s > t.value)
    ties = sum(1 for s in scores if s == t.value)
    return above + t.tie_share * ties


@pytest.mark.parametrize("budget", [0.0, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0])
def test_exact_budget_with_heavy_ties(budget: float) -> None:
    scores = [0.0] * 900 + [0.1] * 50 + [0.5] * 30 + [0.9] * 20
    t = fit_threshold(scores, budget)
    assert math.isclose(_expected_escalated(scores, t), budget * len(scores), abs_tol=1e-9)
    assert t.achieved is not None
    assert math.isclose(t.achieved, budget, abs_tol=1e-12)


def test_distinct_scores_threshold_is_quantile() -> None:
    scores = [i / 1000 for i in range(1000)]
    t = fit_threshold(scores, 0.01)
    assert t.value == pytest.approx(0.989)
    assert sum(1 for s in scores if s > t.value) == 10
    assert t.tie_share == 0.0


def test_ties_are_spent_deterministically() -> None:
    scores = [0.0] * 1000
    t = fit_threshold(scores, 0.1)
    assert t.value == 0.0
    assert t.tie_share == pytest.approx(0.1)
    ids = [f"a-{i}" for i in range(20_000)]
    share = sum(t.exceeded(0.0, key) for key in ids) / len(ids)
    assert share == pytest.approx(0.1, abs=0.01)
    assert [t.exceeded(0.0, k) for k in ids[:50]] == [t.exceeded(0.0, k) for k in ids[:50]]
    assert 0.0 <= tie_draw("x") < 1.0


def test_empty_and_bad_input() -> None:
    t = fit_threshold([], 0.01)
    assert t.achieved is None
    assert not t.exceeded(1.0, "a")
    with pytest.raises(ValueError, match="fraction"):
        fit_threshold([0.1], 1.5)
    with pytest.raises(ValueError, match="finite"):
        fit_threshold([float("nan")], 0.1)
