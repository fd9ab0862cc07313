import pytest

from stakes.control._ensemble import EnsembleMonitor
from stakes.gate import Gate
from stakes.policy import compile_policy
from stakes.testing import ScriptedMonitor

POLICY = """
budgets: {recalibrate: {enabled: false}}
agents: {bot: {clearance: routine}}
tiers:
  routine: {pipeline: [allow]}
  elevated:
    enter: {risk_above: 0.0}
    pipeline: [monitor: {with: ensemble, block_above: 0.5}]
"""
ACTION = {"tool": "fs.read", "args": {"path": "/srv/a"}}


def _gate(ensemble):
    return Gate(compile_policy(text=POLICY), monitors={"ensemble": ensemble})


@pytest.mark.parametrize(("combine", "verdict"), [("max", "block"), ("mean", "allow")])
def test_max_and_mean(combine, verdict):
    ensemble = EnsembleMonitor({"a": ScriptedMonitor([0.9]), "b": ScriptedMonitor([0.0]),
                                "c": ScriptedMonitor([0.1])}, combine)
    decision = _gate(ensemble).check(ACTION, agent="bot")
    assert decision.verdict.value == verdict
    expected = 0.9 if combine == "max" else pytest.approx(1.0 / 3.0)
    assert decision.steps[0].score == expected


@pytest.mark.parametrize("bad", [RuntimeError("down"), float("nan"), 1.5])
def test_a_failing_member_fails_the_ensemble_closed(bad):
    ensemble = EnsembleMonitor({"good": ScriptedMonitor([0.0]), "bad": ScriptedMonitor([bad])},
                               "mean")
    decision = _gate(ensemble).check(ACTION, agent="bot")
    assert decision.verdict.value == "block"
    assert decision.steps[0].error


def test_bad_construction():
    with pytest.raises(ValueError, match="at least one"):
        EnsembleMonitor({})
    with pytest.raises(ValueError, match="combine"):
        EnsembleMonitor({"a": ScriptedMonitor([0.0])}, "median")  # type: ignore[arg-type]
