"""Gate stats: exact under concurrent writers, derived rates and taxes."""

from __future__ import annotations

import threading

from stakes.domain import Action, Assessment, Decision, Verdict
from stakes.gate import GateStats


def _decision(tier: str, forced: str | None, cost: float) -> Decision:
    assessment = Assessment(stakes=4 if forced else 0, suspicion=0.1, risk=0.1, tier=tier,
                            escalate=tier != "routine", forced=forced)
    return Decision(id="d", action=Action(tool="t"), verdict=Verdict.ALLOW,
                    assessment=assessment, control_cost=cost)


def test_concurrent_adds_are_all_counted() -> None:
    stats = GateStats(budget=0.01)
    routine = _decision("routine", None, 0.0)
    risky = _decision("elevated", None, 0.5)
    forced = _decision("critical", "stakes", 2.0)

    def work() -> None:
        for i in range(5000):
            stats.add(forced if i % 100 == 0 else risky if i % 10 == 0 else routine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snapshot = stats.to_json()
    assert snapshot["actions"] == stats.total == 40_000
    assert snapshot["forced_escalation_rate"] == 400 / 40_000
    assert snapshot["risk_escalation_rate"] == 3600 / 40_000
    assert snapshot["control_cost"] == 400 * 2.0 + 3600 * 0.5
    assert snapshot["forced_tax"] == 800 / 40_000
    assert snapshot["tiers"] == {"routine": 36_000, "elevated": 3600, "critical": 400}


def test_final_escalation_rate_excludes_what_a_cascade_monitor_cleared():
    from stakes.gate import Gate
    from stakes.policy import compile_policy

    policy = compile_policy(text="""
budgets: {escalation_rate: 0.5, recalibrate: {enabled: false}}
agents: {bot: {clearance: routine}}
tiers:
  routine: {pipeline: [allow]}
  screen:
    enter: {risk_above: 0.0}
    pipeline: [monitor: {with: triage, audit_above: 0.999}, approval: {by: [human]}]
""")
    gate = Gate(policy)
    for i in range(20):
        gate.check({"tool": "fs.read", "args": {"path": f"/srv/{i}.txt"}}, agent="bot")
    stats = gate.stats.to_json()
    assert stats["risk_escalation_rate"] == 1.0
    assert stats["final_risk_escalation_rate"] == 0.0
