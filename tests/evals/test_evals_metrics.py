import math
import random

import pytest

from stakes.datasets import Example
from stakes.domain import Action
from stakes.evals import Interval, bootstrap, bootstrap_many, detection_at, roc_auc, tpr_at
from stakes.evals._splits import grouped_folds, leave_one_suite_out
from stakes.triage import Threshold


def _brute_auc(benign, harmful):
    total = 0.0
    for h in harmful:
        for b in benign:
            total += 1.0 if h > b else 0.5 if h == b else 0.0
    return total / (len(benign) * len(harmful))


def test_roc_auc_matches_pairwise_definition_with_ties():
    rng = random.Random(3)
    benign = [round(rng.random(), 1) for _ in range(200)]
    harmful = [round(rng.random() ** 0.5, 1) for _ in range(50)]
    assert roc_auc(benign, harmful) == pytest.approx(_brute_auc(benign, harmful))
    assert roc_auc([0.1, 0.2], [0.3]) == 1.0
    assert roc_auc([0.5], [0.5]) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        roc_auc([], [1.0])


def test_tpr_at_shares_ties_like_the_benign_side():
    t = Threshold(value=0.5, tie_share=0.25)
    assert tpr_at(t, [0.9, 0.5, 0.5, 0.1]) == pytest.approx((1 + 0.25 * 2) / 4)
    assert math.isnan(tpr_at(t, []))


def test_detection_spends_exactly_the_budget_on_benign():
    benign = [0.0] * 90 + [0.5] * 10   # ties at the top
    d = detection_at(benign, [0.5, 1.0], 0.05)
    assert d.threshold.value == 0.5
    assert d.threshold.achieved == pytest.approx(0.05)
    assert d.tpr == pytest.approx((1 + 0.5) / 2)


def test_bootstrap_interval_covers_the_estimate_and_is_deterministic():
    rng = random.Random(0)
    clusters = [[rng.random() < 0.3 for _ in range(5)] for _ in range(80)]

    def share(strata):
        rows = [x for s in strata for c in s for x in c]
        return sum(rows) / len(rows) if rows else math.nan

    a = bootstrap([clusters], share, n=400, resamples=300, seed=1)
    b = bootstrap([clusters], share, n=400, resamples=300, seed=1)
    assert a == b
    assert a.low <= a.estimate <= a.high
    assert 0.0 < a.high - a.low < 0.3
    assert a.resamples == 300
    assert "n=400" in str(a)
    many = bootstrap_many([clusters], lambda s: {"share": share(s), "nan": math.nan},
                          sizes={"share": 400}, resamples=100)
    assert many["share"].estimate == a.estimate
    assert many["nan"].resamples == 0
    assert math.isnan(many["nan"].low)
    assert Interval(0.5, 0.4, 0.6, 10).overlaps(Interval(0.55, 0.5, 0.7, 10))
    with pytest.raises(ValueError, match="level"):
        bootstrap([clusters], share, n=1, level=1.5)


def _ex(group: str, suite: str, harmful: bool = False) -> Example:
    return Example(action=Action(tool="t", args={}, id=group),
                   label="harmful" if harmful else "benign",
                   source="x", suite=suite, group=group, side_effect=True)


def test_leave_one_suite_out_never_mixes_suites():
    examples = [_ex(f"{s}/u{i}", s) for s in "abc" for i in range(4)]
    folds = leave_one_suite_out(examples)
    assert [f.name for f in folds] == ["suite=a", "suite=b", "suite=c"]
    for fold in folds:
        held = {examples[i].suite for i in fold.test}
        assert len(held) == 1
        assert held.isdisjoint(examples[i].suite for i in fold.train)
        assert set(fold.train) | set(fold.test) == set(range(len(examples)))


def test_grouped_folds_keep_tasks_and_their_attacks_on_one_side():
    examples = [_ex(f"s/user_task_{u}", "s") for u in range(20)]
    examples += [_ex(f"s/user_task_{u}+injection_task_{i}", "s", True)
                 for u in range(20) for i in range(5)]
    folds = grouped_folds(examples, 4)
    evaluated = set()
    for fold in folds:
        test_tasks = {t for i in fold.test for t in _parts(examples[i].group)}
        train_tasks = {t for i in fold.train for t in _parts(examples[i].group)}
        assert test_tasks.isdisjoint(train_tasks)
        assert set(fold.train).isdisjoint(fold.test)
        evaluated |= set(fold.test)
    # every single-task example is evaluated exactly once
    assert set(range(20)) <= evaluated
    with pytest.raises(ValueError, match="at least 2"):
        grouped_folds(examples, 1)


def _parts(group):
    from stakes.datasets import groups_of
    return set(groups_of(group))
