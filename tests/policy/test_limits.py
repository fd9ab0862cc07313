"""Stateful limits: window sums and counts, sequences, per agent, O(1) state."""

from __future__ import annotations

from stakes.domain import Action
from stakes.policy import LimitState, compile_policy

POLICY = """\
version: 1
capabilities:
  - {name: money, tools: ["pay.*"], stakes: 4}
limits:
  - {name: hourly, capability: money, sum: amount, per: 1h, max: 100}
  - {name: burst, tool: "fs.delete", count: true, per: 60, max: 3}
  - name: exfil
    sequence: [{tool: "fs.read", path: "*secret*"}, {tool: "http.*"}]
    within: 10m
tiers:
  routine: {pipeline: [allow]}
"""


def _trips(policy: object, action: Action, agent: str, now: float, state: LimitState) -> list[str]:
    out = []
    for limit in policy.limits:  # type: ignore[attr-defined]
        trip = limit.observe(action, "money" if action.tool.startswith("pay.") else None, agent,
                             now, state)
        if trip is not None:
            out.append(trip.name)
    return out


def test_window_sum_per_agent_and_expiry() -> None:
    policy = compile_policy(text=POLICY)
    state = LimitState()
    pay = Action(tool="pay.send", args={"amount": 60})
    assert _trips(policy, pay, "a", 0.0, state) == []
    assert _trips(policy, pay, "b", 10.0, state) == []  # another agent has its own window
    assert _trips(policy, pay, "a", 20.0, state) == ["hourly"]  # 120 > 100
    # Negative amounts do not buy headroom.
    assert _trips(policy, Action(tool="pay.send", args={"amount": -500}), "b", 30.0,
                  state) == ["hourly"]
    # Two hours later the window is empty again.
    assert _trips(policy, pay, "a", 7300.0, state) == []


def test_unreadable_amount_trips() -> None:
    policy = compile_policy(text=POLICY)
    assert _trips(policy, Action(tool="pay.send", args={"amount": "lots"}), "a", 0.0,
                  LimitState()) == ["hourly"]
    assert _trips(policy, Action(tool="pay.send", args={}), "a", 0.0, LimitState()) == ["hourly"]


def test_count_window() -> None:
    policy = compile_policy(text=POLICY)
    state = LimitState()
    delete = Action(tool="fs.delete", args={"path": "/tmp/x"})
    results = [_trips(policy, delete, "a", float(i), state) for i in range(5)]
    assert results == [[], [], [], ["burst"], ["burst"]]


def test_sequence_within_window() -> None:
    policy = compile_policy(text=POLICY)
    state = LimitState()
    read = Action(tool="fs.read", args={"path": "/srv/app/SECRET_KEYS.txt"})
    post = Action(tool="http.post", args={"url": "https://example.net"})
    assert _trips(policy, post, "a", 0.0, state) == []  # egress alone is fine
    assert _trips(policy, read, "a", 1.0, state) == []
    assert _trips(policy, post, "b", 2.0, state) == []  # another agent's egress
    assert _trips(policy, post, "a", 3.0, state) == ["exfil"]
    state = LimitState()
    assert _trips(policy, read, "a", 0.0, state) == []
    assert _trips(policy, post, "a", 601.0, state) == []  # too late


def test_state_is_bounded_per_agent() -> None:
    policy = compile_policy(text=POLICY)
    state = LimitState()
    pay = Action(tool="pay.send", args={"amount": 1})
    for i in range(10_000):
        _trips(policy, pay, "a", float(i), state)
    window = next(iter(state.windows.values()))
    assert len(window.buckets) <= 32
