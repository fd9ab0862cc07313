import random

import pytest

from stakes.gate import Gate
from stakes.policy import compile_policy
from stakes.triage import (
    OnlineCalibrator,
    OnlineOptions,
    Threshold,
    fit_threshold,
    weighted_threshold,
)

OPTS = OnlineOptions(window=2000, update_every=500, min_samples=1000, max_drift=0.5, bound=8.0,
                     agent_share=0.25)


def _feed(cal: OnlineCalibrator, rng: random.Random, n: int, scale: float, agents: int = 5) -> None:
    for _ in range(n):
        cal.observe(f"agent-{rng.randrange(agents)}", rng.random() * scale)


def test_weighted_threshold_equals_unweighted_fit_with_unit_weights():
    rng = random.Random(1)
    scores = [round(rng.random(), 2) for _ in range(1000)]
    for budget in (0.01, 0.05, 0.2):
        a = weighted_threshold(scores, [1.0] * len(scores), budget)
        b = fit_threshold(scores, budget)
        assert a.value == b.value
        assert a.tie_share == pytest.approx(b.tie_share)
        assert a.achieved == pytest.approx(budget)


def test_threshold_tracks_the_budget_when_traffic_drifts():
    rng = random.Random(0)
    base = fit_threshold([rng.random() for _ in range(5000)], 0.01)
    cal = OnlineCalibrator({"elevated": base}, {"elevated": 0.01}, OPTS)
    _feed(cal, rng, 2000, scale=1.0)
    assert cal.updates >= 1
    # live traffic drifts: risks double (but stay under the upper bound)
    _feed(cal, rng, 12_000, scale=2.0)
    value = cal.current["elevated"].value
    assert value == pytest.approx(2 * 0.99, rel=0.02)
    assert cal.achieved()["elevated"] == pytest.approx(0.01, abs=0.004)
    report = cal.report()
    assert report["tiers"]["elevated"]["target"] == 0.01
    assert report["updates"] == cal.updates


def test_each_update_moves_the_threshold_a_bounded_step():
    rng = random.Random(0)
    base = Threshold(value=0.99, budget=0.01)
    cal = OnlineCalibrator({"elevated": base}, {"elevated": 0.01}, OPTS)
    _feed(cal, rng, 1000, scale=1.0)
    previous = cal.current["elevated"].value
    # a sudden 6x jump: every update moves at most a factor 1.5
    for _ in range(6):
        _feed(cal, rng, 500, scale=6.0)
        value = cal.current["elevated"].value
        assert value <= previous * 1.5 + 1e-12
        previous = value
    assert cal.clamped >= 1
    # and it never leaves [base / 8, base * 8]
    _feed(cal, rng, 20_000, scale=100.0)
    assert cal.current["elevated"].value <= 0.99 * 8 + 1e-9


def test_a_flooding_agent_gains_weight_only_gradually():
    rng = random.Random(0)
    base = fit_threshold([rng.random() for _ in range(5000)], 0.01)
    flooded = OnlineCalibrator({"elevated": base}, {"elevated": 0.01}, OPTS)
    uncapped = OnlineCalibrator({"elevated": base}, {"elevated": 0.01},
                                OnlineOptions(window=2000, update_every=500, min_samples=1000,
                                              agent_share=1.0, growth=100.0))
    for cal in (flooded, uncapped):
        r = random.Random(5)
        for i in range(3000):  # steady traffic: five agents, the future flooder among them
            cal.observe(f"agent-{i % 5}", r.random())
        for _ in range(1000):  # the flood: 80% of traffic, mildly suspicious actions
            if r.random() < 0.8:
                cal.observe("agent-0", 0.9 + r.random() * 0.1)
            else:
                cal.observe(f"agent-{1 + r.randrange(4)}", r.random())
    # without the cap, the flood lifts the threshold into its own band (an attack slips under);
    # with it, the flooder counts at most 1.5x its former share per re-fit
    assert uncapped.current["elevated"].value > 0.997
    assert flooded.current["elevated"].value < uncapped.current["elevated"].value - 0.0005


def test_a_dominant_agent_keeps_its_share_so_the_budget_holds():
    rng = random.Random(0)
    base = fit_threshold([rng.random() for _ in range(5000)], 0.01)
    cal = OnlineCalibrator({"elevated": base}, {"elevated": 0.01}, OPTS)
    for _ in range(12_000):  # one agent sends 70% of the traffic, always, with lower risks
        if rng.random() < 0.7:
            cal.observe("big", rng.random() * 0.5)
        else:
            cal.observe(f"agent-{rng.randrange(3)}", rng.random())
    assert cal.achieved()["elevated"] == pytest.approx(0.01, abs=0.004)


def test_forced_actions_count_in_the_denominator_only():
    rng = random.Random(0)
    base = fit_threshold([rng.random() for _ in range(5000)], 0.01)
    cal = OnlineCalibrator({"elevated": base}, {"elevated": 0.01}, OPTS)
    for i in range(4000):
        cal.observe(f"agent-{i % 5}", None if i % 2 else rng.random())
    # half the traffic is forced: 1% of all traffic = 2% of the unforced risks
    assert cal.achieved()["elevated"] == pytest.approx(0.01, abs=0.004)
    assert cal.current["elevated"].value == pytest.approx(0.98, abs=0.01)


POLICY = """
budgets:
  escalation_rate: 0.05
  recalibrate: {window: 400, update_every: 100, min_samples: 200, max_drift: 0.5}
agents: {bot: {clearance: routine}}
tiers:
  routine: {pipeline: [allow]}
  elevated:
    enter: {risk_above: budget}
    pipeline: [block]
thresholds:
  elevated: {value: 0.5, tie_share: 0.0}
"""


def test_gate_recalibrates_online_and_reports_achieved_vs_target():
    gate = Gate(compile_policy(text=POLICY))
    assert gate.online is not None
    for i in range(600):
        gate.check({"tool": "fs.read", "args": {"path": f"/srv/app/{i}.txt"}}, agent="bot")
    report = gate.stats.to_json()["recalibration"]
    assert report["updates"] >= 3
    tier = report["tiers"]["elevated"]
    assert tier["target"] == 0.05
    assert tier["base"] == 0.5
    assert gate.threshold_source == "online"
    assert gate.thresholds["elevated"].value == tier["threshold"]
    # the re-fit moved the threshold towards the live 95th percentile, in bounded steps
    assert tier["threshold"] < 0.5


def test_recalibration_can_be_switched_off():
    gate = Gate(compile_policy(text=POLICY.replace("max_drift: 0.5}", "enabled: false}")))
    assert gate.online is None
    assert gate.stats.to_json()["recalibration"] is None


def test_bad_recalibration_settings_name_the_field():
    from stakes.errors import PolicyError

    with pytest.raises(PolicyError, match="agent_share"):
        compile_policy(text=POLICY.replace("max_drift: 0.5}", "agent_share: 0}"))
