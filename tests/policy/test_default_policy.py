"""The bundled policy's shipped thresholds are a fresh fit on the reference sample."""

from __future__ import annotations

from stakes import Gate
from stakes.demo import reference_honest_actions
from stakes.policy import compile_policy
from stakes.triage import calibrate


def test_shipped_thresholds_match_a_fresh_calibration() -> None:
    policy = compile_policy()
    fitted = calibrate(policy, reference_honest_actions())
    assert set(fitted) == set(policy.spec.thresholds)
    for name, threshold in fitted.items():
        shipped = policy.spec.thresholds[name]
        assert shipped.value == threshold.value, (
            f"`{name}` is stale: run `stakes policy calibrate default reference` and paste")
        assert abs(shipped.tie_share - threshold.tie_share) < 1e-12
        assert shipped.fitted_on == threshold.fitted_on


def test_default_gate_uses_the_shipped_thresholds() -> None:
    gate = Gate.from_policy()
    assert gate.threshold_source == "policy"
    for threshold in gate.thresholds.values():
        assert threshold.budget is not None


def test_reference_sample_escalates_the_budget() -> None:
    gate = Gate.from_policy()
    actions = list(reference_honest_actions())
    by_risk = sum(1 for a in actions
                  if (s := gate.assess(a, agent=a.agent)).escalate and not s.forced)
    budget = gate.policy.spec.budgets.escalation_rate
    # Deterministic tie shares make the achieved rate close to, not exactly, the budget.
    assert abs(by_risk / len(actions) - budget) < 0.004
